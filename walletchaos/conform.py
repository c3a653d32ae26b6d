"""Black-box conformance to wallet contract v1 (docs/contract-v1.md): each clause is a few real calls whose
statuses, bodies and error shapes are checked; a failed clause names the request and the response that broke
it. ``walletchaos conform URL`` runs every clause; ``run`` runs the quick ones (no concurrency, no ledger
download) before the load against any wallet that is not the reference one.

The probe creates three accounts of its own (usernames tagged ``conform-<tag>``) and moves a little money
among them; a run's judge ignores them (it scopes every invariant to the run's own accounts)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from .tokens import tampered

START = 1_000


@dataclass
class Clause:
    name: str
    ok: bool
    detail: str = ""
    """What broke it: the request and the response (empty when it held)."""


class Broken(Exception):
    """A clause failed and the ones after it in the same step cannot be tried."""


@dataclass
class Conformance:
    url: str
    admin_token: str
    quick: bool = False
    clauses: list[Clause] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.merchant_received: int | None = 0
        self.http = httpx.Client(base_url=self.url, timeout=5)
        self.tag = secrets.token_hex(3)

    # -- calls and clauses -----------------------------------------------------------------------------------
    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise Broken(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None

    def clause(self, name: str, ok: bool, r: httpx.Response | None = None, why: str = "") -> bool:
        detail = ""
        if not ok:
            detail = why
            if r is not None:
                body = r.request.content.decode(errors="replace")[:200] if r.request.content else ""
                detail += (
                    f" | {r.request.method} {r.request.url.path} {body} -> {r.status_code} {r.text[:300]}"
                )
        self.clauses.append(Clause(name, ok, detail.strip(" |")))
        return ok

    def error(self, name: str, r: httpx.Response, status: int, code: str | None = None) -> bool:
        """``r`` is the definite failure ``status`` (with ``code``) in the contract's error shape."""
        try:
            body = r.json()
        except ValueError:
            body = None
        shaped = isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body
        want = f"{status} {code or ''}".strip()
        return self.clause(
            name,
            r.status_code == status and shaped and (code is None or body["error"] == code),
            r,
            f"expected {want} as {{error, detail}}",
        )

    @staticmethod
    def json(r: httpx.Response) -> Any:
        try:
            return r.json()
        except ValueError:
            return None

    # -- the clauses -----------------------------------------------------------------------------------------
    def run(self) -> list[Clause]:
        steps: list[Callable[[], None]] = [
            self.health,
            self.accounts,
            self.sessions,
            self.reads,
            self.transfers,
        ]
        if not self.quick:
            steps += [self.concurrency, self.audit]
        try:
            for step in steps:
                step()
        except Broken as exc:
            self.clauses.append(Clause("reachable", False, str(exc)))
        finally:
            self.http.close()
        return self.clauses

    def health(self) -> None:
        r = self.call("GET", "/readyz")
        self.clause("GET /readyz answers 200", r.status_code == 200, r)
        r = self.call("GET", "/version")
        v = self.json(r)
        ok = (
            r.status_code == 200
            and isinstance(v, dict)
            and "version" in v
            and isinstance(v.get("defects"), list)
        )
        self.clause("GET /version answers {version, defects: [...]}", ok, r)

    def accounts(self) -> None:
        names = [f"conform-{self.tag}-{n}" for n in ("a", "b", "m")]
        body = {
            "accounts": [
                {"username": names[0], "password": "pw-a-" + self.tag, "balance": START, "kind": "user"},
                {"username": names[1], "password": "pw-b-" + self.tag, "balance": START, "kind": "user"},
                {"username": names[2], "password": "pw-m-" + self.tag, "balance": 0, "kind": "merchant"},
            ]
        }
        r = self.call("POST", "/v1/admin/accounts", None, json=body)
        self.error("admin calls without the admin token are 401", r, 401)
        r = self.call("POST", "/v1/admin/accounts", self.admin_token, json=body)
        v = self.json(r)
        rows = v["accounts"] if isinstance(v, dict) and isinstance(v.get("accounts"), list) else []
        ok = r.status_code == 201 and all(isinstance(x, dict) and "id" in x for x in rows)
        ok = ok and [x.get("username") for x in rows] == names
        if not self.clause(
            "POST /v1/admin/accounts creates accounts: 201 {accounts: [{id, username}]}", ok, r
        ):
            raise Broken("no accounts to probe with: " + self.clauses[-1].detail)
        self.ids = {n[-1]: rows[i]["id"] for i, n in enumerate(names)}
        self.passwords = {n[-1]: body["accounts"][i]["password"] for i, n in enumerate(names)}
        self.usernames = {n[-1]: n for n in names}
        again = self.call(
            "POST", "/v1/admin/accounts", self.admin_token, json={"accounts": body["accounts"][:1]}
        )
        self.error("a taken username is 409 username_taken", again, 409, "username_taken")

    def login(self, who: str, password: str | None = None) -> httpx.Response:
        body = {"username": self.usernames[who], "password": password or self.passwords[who]}
        return self.call("POST", "/v1/sessions", None, json=body)

    def sessions(self) -> None:
        self.tokens: dict[str, str] = {}
        for who in ("a", "b", "m"):
            r = self.login(who)
            v = self.json(r)
            ok = r.status_code == 201 and isinstance(v, dict) and bool(v.get("token"))
            ok = ok and str(v.get("account_id")) == str(self.ids[who]) and "expires_in" in v
            if not ok:
                self.clause("POST /v1/sessions: 201 {token, account_id, expires_in}", False, r)
                raise Broken("no session to probe with: " + self.clauses[-1].detail)
            self.tokens[who] = v["token"]
        self.clause("POST /v1/sessions: 201 {token, account_id, expires_in}", True)
        r = self.login("b", "wrong-password")
        self.error("a wrong password is 401 invalid_credentials", r, 401, "invalid_credentials")

    def balance(self, who: str) -> Any:
        r = self.call("GET", f"/v1/accounts/{self.ids[who]}", self.tokens[who])
        v = self.json(r)
        return v.get("balance") if r.status_code == 200 and isinstance(v, dict) else None

    def reads(self) -> None:
        a = self.ids["a"]
        r = self.call("GET", f"/v1/accounts/{a}", self.tokens["a"])
        v = self.json(r)
        ok = r.status_code == 200 and isinstance(v, dict) and str(v.get("id")) == str(a)
        ok = ok and v.get("balance") == START and "currency" in v and v.get("kind") == "user"
        self.clause("GET /v1/accounts/{id} shows the owner {id, balance, currency, kind}", ok, r)
        r = self.call("GET", f"/v1/accounts/{a}", self.tokens["b"])
        self.error("another user's account is 403 not_owner", r, 403, "not_owner")
        r = self.call("GET", f"/v1/accounts/{a}")
        self.error("a call without a session is 401", r, 401)
        r = self.call("GET", f"/v1/accounts/{a}", tampered(self.tokens["a"]))
        self.error("a tampered session token is 401", r, 401)

    def pay(
        self, key: str | None, amount: int, src: str = "a", dst: str = "m", **extra: Any
    ) -> httpx.Response:
        body = {"from": self.ids[src], "to": self.ids[dst], "amount": amount, "currency": "CNY", **extra}
        headers = {"Idempotency-Key": key} if key else {}
        return self.call("POST", "/v1/transfers", self.tokens[src], json=body, headers=headers)

    def transfers(self) -> None:
        key = f"conform-{self.tag}-1"
        r = self.pay(key, 100)
        first = self.json(r)
        want = {"from": self.ids["a"], "to": self.ids["m"], "amount": 100, "currency": "CNY"}
        ok = r.status_code == 201 and isinstance(first, dict) and first.get("status") == "committed"
        ok = ok and all(str(first.get(k)) == str(v) for k, v in want.items()) and first.get("id") is not None
        if not self.clause("POST /v1/transfers: 201 with the request's from, to, amount and status", ok, r):
            return
        self.first = first
        again = self.pay(key, 100)
        self.clause(
            "a resend with the same key and body answers the original 201",
            again.status_code == 201 and self.json(again) == first,
            again,
            f"expected 201 {json.dumps(first)}",
        )
        other = self.pay(key, 101)
        self.error(
            "the same key with another body is 409 idempotency_key_reused",
            other,
            409,
            "idempotency_key_reused",
        )
        self.clause(
            "the key applied once: the payer's balance fell by 100",
            self.balance("a") == START - 100,
            None,
            f"balance of the payer is {self.balance('a')}, expected {START - 100}",
        )
        self.error("a transfer without Idempotency-Key is 400", self.pay(None, 5), 400)
        poor = self.pay(f"conform-{self.tag}-2", 10 * START)
        self.error("a payment above the balance is 422 insufficient_funds", poor, 422, "insufficient_funds")
        foreign = self.call(
            "POST",
            "/v1/transfers",
            self.tokens["b"],
            json={"from": self.ids["a"], "to": self.ids["m"], "amount": 5, "currency": "CNY"},
            headers={"Idempotency-Key": f"conform-{self.tag}-4"},
        )
        self.error("paying from another user's account is 403 not_owner", foreign, 403, "not_owner")
        r = self.call("GET", f"/v1/transfers/by-key/{key}", self.admin_token)
        self.clause(
            "by-key answers 200 with the applied transfer",
            r.status_code == 200 and str((self.json(r) or {}).get("id")) == str(first["id"]),
            r,
        )
        r = self.call("GET", f"/v1/transfers/by-key/conform-{self.tag}-never", self.admin_token)
        self.error("by-key of a key never applied is 404 not_found", r, 404, "not_found")

    def concurrency(self) -> None:
        key = f"conform-{self.tag}-together"
        before = self.balance("b")
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: self.pay(key, 7, src="b"), range(4)))
        ids = {str((self.json(r) or {}).get("id")) for r in answers if r.status_code == 201}
        others = [r for r in answers if r.status_code != 201]
        ok = len(ids) == 1 and all(
            r.status_code == 409 and (self.json(r) or {}).get("error") == "idempotency_key_in_progress"
            for r in others
        )
        self.clause(
            "concurrent sends of one key: one transfer, 201s with its id or 409 in progress",
            ok,
            others[0] if others else answers[0],
            f"answers {[r.status_code for r in answers]}, ids {sorted(ids)}",
        )
        after = self.balance("b")
        self.merchant_received = 7 if after == before - 7 else None
        self.clause(
            "concurrent sends of one key applied once",
            before is not None and after == before - 7,
            None,
            f"balance {before} -> {after}, expected a fall of 7",
        )

    def audit(self) -> None:
        r = self.call("GET", "/v1/audit/snapshot", self.admin_token)
        snap = self.json(r)
        ok = r.status_code == 200 and isinstance(snap, dict) and isinstance(snap.get("accounts"), list)
        if self.clause("GET /v1/audit/snapshot: 200 {as_of, total, accounts: [{id, balance}]}", ok, r):
            listed = {str(a.get("id")): a.get("balance") for a in snap["accounts"]}
            total_ok = snap.get("total") == sum(int(b or 0) for b in listed.values())
            self.clause("the snapshot's total is the sum of its accounts", total_ok, r)
            mine = {w: listed.get(str(self.ids[w])) for w in ("a", "m")}
            want = {"a": START - 100, "m": 100 + (self.merchant_received or 0)}
            if self.merchant_received is not None:  # else the concurrency clause already failed
                self.clause(
                    "the snapshot holds the probe's balances",
                    mine == want,
                    None,
                    f"snapshot shows {mine}, expected {want}",
                )
        r = self.call("GET", "/v1/audit/ledger", self.admin_token)
        postings = []
        try:
            postings = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        except ValueError:
            self.clause("GET /v1/audit/ledger is NDJSON", False, r)
            return
        first = getattr(self, "first", None)
        if r.status_code != 200 or first is None:
            self.clause("GET /v1/audit/ledger answers 200", r.status_code == 200, r)
            return
        legs = sorted(
            (str(p.get("account")), p.get("delta"))
            for p in postings
            if str(p.get("transfer_id")) == str(first["id"])
        )
        two = sorted([(str(self.ids["a"]), -100), (str(self.ids["m"]), 100)])
        self.clause(
            "the ledger holds the transfer as two postings, -amount and +amount",
            legs == two,
            None,
            f"postings of transfer {first['id']}: {legs}, expected {two}",
        )
        seqs = [p.get("seq") for p in postings]
        self.clause(
            "ledger seq increases",
            all(isinstance(s, int) for s in seqs) and seqs == sorted(seqs),
            None,
            "seq values are not increasing integers",
        )


def conform(url: str, admin_token: str, quick: bool = False) -> list[Clause]:
    return Conformance(url.rstrip("/"), admin_token, quick).run()

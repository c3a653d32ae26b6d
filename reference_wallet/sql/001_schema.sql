-- Reference wallet schema v1: double-entry ledger.
-- Balances are integer minor units. There is deliberately no CHECK (balance >= 0) and no UNIQUE on
-- transfers.idempotency_key: the correct code path enforces both (funds check under row locks, an advisory
-- lock per key plus a lookup), and the defect catalog must be able to break them so the judge can catch it.
-- The money tables (transfers, ledger, account_credits) have no foreign keys: wallet_transfer() reads every
-- row a write references (payer locked, payee, the refunded transfer) in the same transaction, the ledger's
-- transfer is the one it just inserted, and accounts are never deleted. A foreign key re-checked each of
-- those with one more query and a KEY SHARE lock on the referenced row (seven per transfer), and concurrent
-- credits to one merchant turned its row lock into a MultiXact, what the credit slots below exist to avoid.
-- Measured on P1 (bench/wallet_vs_pgbench.py): 0.50-0.71 -> 0.42-0.63 ms of PostgreSQL CPU per transfer.
CREATE TABLE IF NOT EXISTS accounts (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'merchant')),
    currency      TEXT NOT NULL,
    balance       BIGINT NOT NULL,
    locked_until  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS transfers (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    from_id         BIGINT NOT NULL,
    to_id           BIGINT NOT NULL,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    refund_of       BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS transfers_key ON transfers (idempotency_key);
CREATE INDEX IF NOT EXISTS transfers_from_time ON transfers (from_id, created_at);
CREATE INDEX IF NOT EXISTS transfers_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE IF NOT EXISTS ledger (
    seq             BIGSERIAL PRIMARY KEY,
    transfer_id     BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    account_id      BIGINT NOT NULL,
    delta           BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Credits land in one of 16 slots per account instead of the account row, so a hot merchant's payments do
-- not queue on one row lock; an account's balance is its row's balance plus its slots, read in one
-- statement (one snapshot) everywhere the wallet answers with a balance. Only the payer's row is locked.
CREATE TABLE IF NOT EXISTS account_credits (
    account_id BIGINT NOT NULL,
    slot       SMALLINT NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (account_id, slot)
);

-- Databases created before the money tables lost their foreign keys drop them (only when there are some: the
-- ALTER would lock the table at every start).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint
             WHERE contype = 'f' AND conrelid IN ('transfers'::regclass, 'ledger'::regclass, 'account_credits'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
    END LOOP;
END $$;

-- The one definition of a balance: the account row plus its credit slots (one snapshot per statement).
CREATE OR REPLACE VIEW account_balances AS
SELECT a.id, a.currency, a.kind,
       (a.balance + coalesce((SELECT sum(c.amount) FROM account_credits c WHERE c.account_id = a.id), 0))::bigint
       AS balance
FROM accounts a;

CREATE TABLE IF NOT EXISTS login_failures (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_account_time ON login_failures (account_id, at);

-- Reference wallet schema v1: double-entry ledger.
-- Balances are integer minor units. There is deliberately no CHECK (balance >= 0) and no UNIQUE on
-- transfers.idempotency_key: the correct code path enforces both (funds check under row locks, an advisory
-- lock per key plus a lookup), and the defect catalog must be able to break them so the judge can catch it.
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
    from_id         BIGINT NOT NULL REFERENCES accounts (id),
    to_id           BIGINT NOT NULL REFERENCES accounts (id),
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    refund_of       BIGINT REFERENCES transfers (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS transfers_key ON transfers (idempotency_key);
CREATE INDEX IF NOT EXISTS transfers_from_time ON transfers (from_id, created_at);
CREATE INDEX IF NOT EXISTS transfers_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE IF NOT EXISTS ledger (
    seq             BIGSERIAL PRIMARY KEY,
    transfer_id     BIGINT NOT NULL REFERENCES transfers (id),
    idempotency_key TEXT NOT NULL,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    delta           BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Credits land in one of 16 slots per account instead of the account row, so a hot merchant's payments do
-- not queue on one row lock; an account's balance is its row's balance plus its slots, read in one
-- statement (one snapshot) everywhere the wallet answers with a balance. Only the payer's row is locked.
CREATE TABLE IF NOT EXISTS account_credits (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    slot       SMALLINT NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (account_id, slot)
);

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

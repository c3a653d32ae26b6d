CREATE TABLE IF NOT EXISTS accounts (
    id           uuid PRIMARY KEY,
    username     text UNIQUE NOT NULL,
    pw_salt      bytea NOT NULL,
    pw_hash      bytea NOT NULL,
    kind         text NOT NULL,
    balance      bigint NOT NULL CHECK (balance >= 0),
    locked_until timestamptz
);
CREATE TABLE IF NOT EXISTS login_failures (
    account uuid NOT NULL REFERENCES accounts (id),
    at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_account ON login_failures (account, at);
CREATE TABLE IF NOT EXISTS transfers (
    id         uuid PRIMARY KEY,
    idem_key   text NOT NULL,
    from_id    uuid NOT NULL REFERENCES accounts (id),
    to_id      uuid NOT NULL REFERENCES accounts (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   text NOT NULL,
    refund_of  uuid REFERENCES transfers (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (from_id, idem_key)
);
CREATE INDEX IF NOT EXISTS transfers_key ON transfers (idem_key);
CREATE INDEX IF NOT EXISTS transfers_refund_of ON transfers (refund_of);
CREATE TABLE IF NOT EXISTS postings (
    seq         bigserial PRIMARY KEY,
    transfer_id uuid NOT NULL REFERENCES transfers (id),
    idem_key    text NOT NULL,
    account     uuid NOT NULL REFERENCES accounts (id),
    delta       bigint NOT NULL,
    created_at  timestamptz NOT NULL
);

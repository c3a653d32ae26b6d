// gowallet: a minimal wallet that speaks walletchaos wallet contract v1 (docs/contract-v1.md), written
// independently of reference_wallet/ (Go, net/http, pgx). Account and transfer ids are UUIDs.
//
// Configuration comes from flags or the environment the harness sets for a wallet command:
// HOST, PORT, DATABASE_URL, ADMIN_TOKEN, and WALLETCHAOS_SETTING_LOCKOUT_{THRESHOLD,WINDOW_S,DURATION_S}.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schema string

const (
	currency  = "CNY"
	maxInt    = 1 << 53
	dbTimeout = 800 * time.Millisecond // a request answers within about a second, even with the db gone
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

type config struct {
	addr, dbURL, admin    string
	threshold             int
	window, duration, ttl time.Duration
	kdfIterations         int
}

type server struct {
	cfg config
	db  *pgxpool.Pool
	key []byte
}

// apiError is a definite answer: {"error": code, "detail": detail} with its status.
type apiError struct {
	status       int
	code, detail string
	retryAfter   int
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func fail(status int, code, detail string) *apiError {
	return &apiError{status: status, code: code, detail: detail}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func setting(name string, def float64) float64 {
	v, err := strconv.ParseFloat(envOr("WALLETCHAOS_SETTING_"+name, ""), 64)
	if err != nil {
		return def
	}
	return v
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func main() {
	host := flag.String("host", envOr("HOST", "127.0.0.1"), "listen host")
	port := flag.String("port", envOr("PORT", "8080"), "listen port")
	dbURL := flag.String("database-url", envOr("DATABASE_URL", ""), "PostgreSQL URL")
	flag.Parse()
	cfg := config{
		addr:          net.JoinHostPort(*host, *port),
		dbURL:         *dbURL,
		admin:         os.Getenv("ADMIN_TOKEN"),
		threshold:     int(setting("LOCKOUT_THRESHOLD", 5)),
		window:        seconds(setting("LOCKOUT_WINDOW_S", 900)),
		duration:      seconds(setting("LOCKOUT_DURATION_S", 900)),
		ttl:           seconds(setting("TOKEN_TTL_S", 3600)),
		kdfIterations: int(setting("KDF_ITERATIONS", 1000)),
	}
	if cfg.dbURL == "" || len(cfg.admin) < 8 {
		log.Fatal("need --database-url (or DATABASE_URL) and ADMIN_TOKEN (at least 8 characters)")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.dbURL)
	if err != nil {
		log.Fatalf("database url: %v", err)
	}
	pcfg.MaxConns = 16
	pcfg.ConnConfig.ConnectTimeout = time.Second
	pcfg.ConnConfig.RuntimeParams["statement_timeout"] = "5000"
	pcfg.ConnConfig.RuntimeParams["lock_timeout"] = "2000"
	db, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		log.Fatalf("database: %v", err)
	}
	mac := hmac.New(sha256.New, []byte(cfg.admin))
	mac.Write([]byte("gowallet-session-v1"))
	s := &server{cfg: cfg, db: db, key: mac.Sum(nil)}
	if err := s.migrate(); err != nil {
		log.Fatalf("schema: %v", err)
	}
	log.Printf("schema ready; listening on %s", cfg.addr)
	srv := &http.Server{Addr: cfg.addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// migrate creates the schema once, whichever replica gets there first.
func (s *server) migrate() error {
	var last error
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7431)"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, schema)
			return err
		})
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return last
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"version": "gowallet-1.0", "defects": []string{}})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st := s.db.Stat()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "gowallet_db_connections %d\n", st.TotalConns())
	})
	mux.Handle("POST /v1/admin/accounts", s.handle(s.createAccounts))
	mux.Handle("POST /v1/sessions", s.handle(s.login))
	mux.Handle("GET /v1/accounts/{id}", s.handle(s.account))
	mux.Handle("POST /v1/transfers", s.handle(s.transfer))
	mux.Handle("GET /v1/transfers/by-key/{key}", s.handle(s.byKey))
	mux.Handle("GET /v1/audit/snapshot", s.handle(s.snapshot))
	mux.HandleFunc("GET /v1/audit/ledger", s.ledger)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, fail(404, "not_found", "no such route")) })
	return mux
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		writeError(w, fail(503, "unavailable", "database unreachable"))
		return
	}
	reply(w, 200, map[string]string{"status": "ready"})
}

// handle runs a JSON handler with the database deadline. An apiError is its own answer; a failure after
// COMMIT was sent is 500 commit_unknown (the outcome is unknown); any other failure means nothing was
// applied: 503 unavailable.
func (s *server) handle(fn func(context.Context, *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
		defer cancel()
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		status, body, err := fn(ctx, r)
		var api *apiError
		switch {
		case err == nil:
			reply(w, status, body)
		case errors.As(err, &api):
			writeError(w, api)
		case errors.Is(err, errCommit):
			writeError(w, fail(500, "commit_unknown", "the database failed during COMMIT"))
		default:
			log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
			writeError(w, fail(503, "unavailable", "database unavailable; nothing was applied"))
		}
	})
}

var errCommit = errors.New("commit failed")

// inTx runs fn in one transaction; a failed COMMIT is errCommit.
func (s *server) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: %v", errCommit, err)
	}
	return nil
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"error": e.code, "detail": e.detail}
	if e.retryAfter > 0 {
		body["retry_after"] = e.retryAfter
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	reply(w, e.status, body)
}

// decode reads a JSON object strictly: no unknown fields, numbers kept exact, nothing after it.
func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fail(400, "invalid_request", "malformed body: "+err.Error())
	}
	if dec.More() {
		return fail(400, "invalid_request", "one JSON object expected")
	}
	return nil
}

// integer accepts a JSON integer (or an integral float) in [lo, 2^53].
func integer(n json.Number, field string, lo int64) (int64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < float64(lo) {
		return 0, fail(400, "invalid_request", fmt.Sprintf("%s: an integer >= %d", field, lo))
	}
	if f > maxInt {
		return 0, fail(422, "amount_out_of_range", field+" above 2^53")
	}
	return int64(f), nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// --- auth -----------------------------------------------------------------------------------------------

func (s *server) sign(payload string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *server) issue(account string) string {
	exp := time.Now().Add(s.cfg.ttl).Unix() + 1
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s|%d", account, exp)))
	return payload + "." + s.sign(payload)
}

// caller is "admin", an account id (a valid session), or an error (401).
func (s *server) caller(r *http.Request) (admin bool, account string, err error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false, "", fail(401, "unauthorized", "missing bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.admin)) == 1 {
		return true, "", nil
	}
	payload, sig, found := strings.Cut(token, ".")
	// the signature is compared as text: a changed trailing character never decodes to the same bytes
	if !found || subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign(payload))) != 1 {
		return false, "", fail(401, "unauthorized", "invalid or expired session token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return false, "", fail(401, "unauthorized", "invalid or expired session token")
	}
	id, expText, _ := strings.Cut(string(raw), "|")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || time.Now().Unix() >= exp || !uuidRE.MatchString(id) {
		return false, "", fail(401, "unauthorized", "invalid or expired session token")
	}
	return false, id, nil
}

func (s *server) hash(salt []byte, password string) []byte {
	key, _ := pbkdf2.Key(sha256.New, password, salt, s.cfg.kdfIterations, 32)
	return key
}

// --- accounts and sessions --------------------------------------------------------------------------------

type newAccount struct {
	Username string      `json:"username"`
	Password string      `json:"password"`
	Balance  json.Number `json:"balance"`
	Kind     string      `json:"kind"`
}

func (s *server) createAccounts(ctx context.Context, r *http.Request) (int, any, error) {
	if admin, _, err := s.caller(r); err != nil || !admin {
		return 0, nil, fail(401, "unauthorized", "admin token required")
	}
	var req struct {
		Accounts []newAccount `json:"accounts"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Accounts) < 1 || len(req.Accounts) > 500 {
		return 0, nil, fail(400, "invalid_request", "accounts: 1 to 500 entries")
	}
	seen := map[string]bool{}
	for _, a := range req.Accounts {
		if a.Username == "" || len(a.Username) > 64 || strings.ContainsRune(a.Username, 0) || a.Password == "" ||
			strings.ContainsRune(a.Password, 0) || (a.Kind != "user" && a.Kind != "merchant") {
			return 0, nil, fail(400, "invalid_request", "username, password (no NUL) and kind user|merchant")
		}
		if seen[a.Username] {
			return 0, nil, fail(409, "username_taken", a.Username+" twice in one request")
		}
		seen[a.Username] = true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second) // a batch may take a while
	defer cancel()
	out := []map[string]string{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		for _, a := range req.Accounts {
			balance, err := integer(a.Balance, "balance", 0)
			if err != nil {
				return err
			}
			salt := make([]byte, 16)
			_, _ = rand.Read(salt)
			id := newID()
			tag, err := tx.Exec(ctx, `INSERT INTO accounts (id, username, pw_salt, pw_hash, kind, balance)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING`,
				id, a.Username, salt, s.hash(salt, a.Password), a.Kind, balance)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fail(409, "username_taken", a.Username)
			}
			out = append(out, map[string]string{"id": id, "username": a.Username})
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"accounts": out}, nil
}

func (s *server) login(ctx context.Context, r *http.Request) (int, any, error) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	var id string
	var good bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var salt, hash []byte
		var lockedFor float64
		err := tx.QueryRow(ctx, `SELECT id::text, pw_salt, pw_hash,
				coalesce(extract(epoch FROM locked_until - now()), 0)::float8
			FROM accounts WHERE username = $1 FOR UPDATE`, req.Username).Scan(&id, &salt, &hash, &lockedFor)
		if errors.Is(err, pgx.ErrNoRows) {
			s.hash([]byte("no-such-user-salt"), req.Password) // the same work: no username oracle
			return fail(401, "invalid_credentials", "wrong username or password")
		}
		if err != nil {
			return err
		}
		if lockedFor > 0 {
			e := fail(423, "account_locked", "too many failed logins")
			e.retryAfter = int(math.Max(1, math.Ceil(lockedFor)))
			return e
		}
		good = hmac.Equal(hash, s.hash(salt, req.Password))
		if good {
			_, err = tx.Exec(ctx, "DELETE FROM login_failures WHERE account = $1", id)
			return err
		}
		if _, err = tx.Exec(ctx, "INSERT INTO login_failures (account, at) VALUES ($1, now())", id); err != nil {
			return err
		}
		var failures int
		err = tx.QueryRow(ctx, "SELECT count(*) FROM login_failures WHERE account = $1 AND at > now() - $2::interval",
			id, fmt.Sprintf("%f seconds", s.cfg.window.Seconds())).Scan(&failures)
		if err != nil {
			return err
		}
		if failures >= s.cfg.threshold {
			_, err = tx.Exec(ctx, `UPDATE accounts SET locked_until = now() + $2::interval WHERE id = $1`,
				id, fmt.Sprintf("%f seconds", s.cfg.duration.Seconds()))
			if err == nil {
				_, err = tx.Exec(ctx, "DELETE FROM login_failures WHERE account = $1", id)
			}
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if !good {
		return 0, nil, fail(401, "invalid_credentials", "wrong username or password")
	}
	return 201, map[string]any{"token": s.issue(id), "account_id": id, "expires_in": int(s.cfg.ttl.Seconds())}, nil
}

func (s *server) account(ctx context.Context, r *http.Request) (int, any, error) {
	admin, me, err := s.caller(r)
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if !admin && id != me {
		return 0, nil, fail(403, "not_owner", "not your account")
	}
	if !uuidRE.MatchString(id) {
		return 0, nil, fail(404, "not_found", "no such account")
	}
	var balance int64
	var kind string
	err = s.db.QueryRow(ctx, "SELECT balance, kind FROM accounts WHERE id = $1", id).Scan(&balance, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fail(404, "not_found", "no such account")
	}
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"id": id, "balance": balance, "currency": currency, "kind": kind}, nil
}

// --- transfers --------------------------------------------------------------------------------------------

type transfer struct {
	ID        string    `json:"id"`
	Key       string    `json:"idempotency_key"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	RefundOf  *string   `json:"refund_of,omitempty"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

const transferColumns = `id::text, idem_key, from_id::text, to_id::text, amount, currency, refund_of::text, created_at`

func scanTransfer(row pgx.Row) (*transfer, error) {
	t := transfer{Status: "committed"}
	err := row.Scan(&t.ID, &t.Key, &t.From, &t.To, &t.Amount, &t.Currency, &t.RefundOf, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &t, err
}

func (s *server) transfer(ctx context.Context, r *http.Request) (int, any, error) {
	_, me, err := s.caller(r)
	if err != nil {
		return 0, nil, err
	}
	if me == "" {
		return 0, nil, fail(403, "not_owner", "transfers are made by the paying account's owner")
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 64 || strings.ContainsRune(key, 0) {
		return 0, nil, fail(400, "invalid_request", "Idempotency-Key: 1 to 64 characters")
	}
	var req struct {
		From     *string     `json:"from"`
		To       *string     `json:"to"`
		Amount   json.Number `json:"amount"`
		Currency *string     `json:"currency"`
		RefundOf *string     `json:"refund_of"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.From == nil || req.To == nil || req.Currency == nil {
		return 0, nil, fail(400, "invalid_request", "from, to, amount and currency are required")
	}
	amount, err := integer(req.Amount, "amount", 1)
	if err != nil {
		return 0, nil, err
	}
	if *req.From != me {
		return 0, nil, fail(403, "not_owner", "only the owner of from may pay from it")
	}
	var out *transfer
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// one key of one payer at a time; the replay check comes first, so a resend is never refused
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", me+":"+key); err != nil {
			return err
		}
		prior, err := scanTransfer(tx.QueryRow(ctx,
			"SELECT "+transferColumns+" FROM transfers WHERE from_id = $1 AND idem_key = $2", me, key))
		if err != nil {
			return err
		}
		if prior != nil {
			same := prior.To == *req.To && prior.Amount == amount && prior.Currency == *req.Currency &&
				((prior.RefundOf == nil && req.RefundOf == nil) ||
					(prior.RefundOf != nil && req.RefundOf != nil && *prior.RefundOf == *req.RefundOf))
			if !same {
				return fail(409, "idempotency_key_reused", "this key was used with another body")
			}
			out = prior
			return nil
		}
		if *req.To == me {
			return fail(422, "same_account", "from and to are the same account")
		}
		if !uuidRE.MatchString(*req.To) {
			return fail(404, "unknown_account", "no such account: to")
		}
		if *req.Currency != currency {
			return fail(422, "currency_mismatch", "accounts hold "+currency)
		}
		rows, err := tx.Query(ctx,
			"SELECT id::text, balance FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", []string{me, *req.To})
		if err != nil {
			return err
		}
		balances := map[string]int64{}
		for rows.Next() {
			var id string
			var b int64
			if err := rows.Scan(&id, &b); err != nil {
				rows.Close()
				return err
			}
			balances[id] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(balances) != 2 {
			return fail(404, "unknown_account", "no such account")
		}
		if req.RefundOf != nil {
			if err := s.checkRefund(ctx, tx, *req.RefundOf, me, *req.To, amount); err != nil {
				return err
			}
		}
		if balances[me] < amount {
			return fail(422, "insufficient_funds", "balance below amount")
		}
		t := transfer{ID: newID(), Key: key, From: me, To: *req.To, Amount: amount, Currency: currency,
			RefundOf: req.RefundOf, Status: "committed"}
		if err := tx.QueryRow(ctx, `INSERT INTO transfers (id, idem_key, from_id, to_id, amount, currency, refund_of)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
			t.ID, key, me, t.To, amount, currency, t.RefundOf).Scan(&t.CreatedAt); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		batch.Queue("UPDATE accounts SET balance = balance - $2 WHERE id = $1", me, amount)
		batch.Queue("UPDATE accounts SET balance = balance + $2 WHERE id = $1", t.To, amount)
		batch.Queue(`INSERT INTO postings (transfer_id, idem_key, account, delta, created_at)
			VALUES ($1, $2, $3, $4, $6), ($1, $2, $5, $7, $6)`, t.ID, key, me, -amount, t.To, t.CreatedAt, amount)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		out = &t
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 201, out, nil
}

// checkRefund: the original must be a payment from the refund's payee to its payer, and its refunds
// (this one included) may not exceed it. The original's row lock serialises concurrent refunds.
func (s *server) checkRefund(ctx context.Context, tx pgx.Tx, original, from, to string, amount int64) error {
	if !uuidRE.MatchString(original) {
		return fail(404, "unknown_transfer", "no such transfer")
	}
	var oFrom, oTo string
	var oAmount int64
	err := tx.QueryRow(ctx, "SELECT from_id::text, to_id::text, amount FROM transfers WHERE id = $1 FOR UPDATE",
		original).Scan(&oFrom, &oTo, &oAmount)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail(404, "unknown_transfer", "no such transfer")
	}
	if err != nil {
		return err
	}
	if oFrom != to || oTo != from {
		return fail(422, "refund_mismatch", "a refund goes back from the payee to the payer")
	}
	var refunded int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(amount), 0)::bigint FROM transfers WHERE refund_of = $1",
		original).Scan(&refunded); err != nil {
		return err
	}
	if refunded+amount > oAmount {
		return fail(422, "refund_exceeds_original", "refunds would exceed the payment")
	}
	return nil
}

func (s *server) byKey(ctx context.Context, r *http.Request) (int, any, error) {
	admin, me, err := s.caller(r)
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("key")
	var row pgx.Row
	if admin {
		row = s.db.QueryRow(ctx, "SELECT "+transferColumns+" FROM transfers WHERE idem_key = $1 ORDER BY created_at LIMIT 1", key)
	} else {
		row = s.db.QueryRow(ctx, "SELECT "+transferColumns+` FROM transfers WHERE idem_key = $1
			AND (from_id = $2 OR to_id = $2) ORDER BY created_at LIMIT 1`, key, me)
	}
	t, err := scanTransfer(row)
	if err != nil {
		return 0, nil, err
	}
	if t == nil {
		return 0, nil, fail(404, "not_found", "no transfer under this key")
	}
	return 200, t, nil
}

// --- audit ------------------------------------------------------------------------------------------------

func (s *server) snapshot(ctx context.Context, r *http.Request) (int, any, error) {
	if admin, _, err := s.caller(r); err != nil || !admin {
		return 0, nil, fail(401, "unauthorized", "admin token required")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	type entry struct {
		ID      string `json:"id"`
		Balance int64  `json:"balance"`
	}
	accounts := []entry{}
	var total int64
	var asOf time.Time
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, "SELECT now()").Scan(&asOf); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "SELECT id::text, balance FROM accounts ORDER BY id")
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var e entry
				if err := rows.Scan(&e.ID, &e.Balance); err != nil {
					return err
				}
				total += e.Balance
				accounts = append(accounts, e)
			}
			return rows.Err()
		})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"as_of": asOf, "total": total, "accounts": accounts}, nil
}

// ledger streams every posting as NDJSON in seq order.
func (s *server) ledger(w http.ResponseWriter, r *http.Request) {
	if admin, _, err := s.caller(r); err != nil || !admin {
		writeError(w, fail(401, "unauthorized", "admin token required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT seq, transfer_id::text, idem_key, account::text, delta, created_at
		FROM postings ORDER BY seq`)
	if err != nil {
		writeError(w, fail(503, "unavailable", "database unavailable"))
		return
	}
	defer rows.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for rows.Next() {
		var p struct {
			Seq        int64     `json:"seq"`
			TransferID string    `json:"transfer_id"`
			Key        string    `json:"idempotency_key"`
			Account    string    `json:"account"`
			Delta      int64     `json:"delta"`
			CreatedAt  time.Time `json:"created_at"`
		}
		if err := rows.Scan(&p.Seq, &p.TransferID, &p.Key, &p.Account, &p.Delta, &p.CreatedAt); err != nil {
			break
		}
		_ = enc.Encode(p)
		if buf.Len() > 64<<10 {
			_, _ = w.Write(buf.Bytes())
			buf.Reset()
		}
	}
	if rows.Err() != nil {
		// a cut stream: the client sees a truncated body, never a complete-looking one
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(buf.Bytes())
}

//! The concept bank in PostgreSQL + pgvector (`lvmkit index --backend postgres`, `lvmkit serve
//! --bank URL`): one table per bank, `row bigint primary key, doc_id text, position int, text
//! text, embedding vector(dim)`, searched by cosine distance through an HNSW index, and one row
//! per bank in `lvmkit_banks` that ties the table to the dataset manifest it was loaded from.
//!
//! [`load`] is resumable and idempotent: each batch of rows is one transaction, rows already in
//! the table are skipped, and the bank is marked complete only after the HNSW index is built and
//! the row count checked. [`PgIndex::open`] refuses a table that is incomplete, stale (another
//! manifest hash) or of another shape, as `ConceptBank::open` refuses a stale HNSW file.
//!
//! The client is the blocking `postgres` crate: call it from plain threads or tokio's blocking
//! pool (`spawn_blocking`), never from inside an async task (it runs its own runtime; dropping a
//! [`PgIndex`] anywhere is safe: it closes its connections on a thread of its own). No TLS: the
//! server is meant to be local (`scripts/postgres.sh start`).

use anyhow::{anyhow, bail, Context, Result};
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};
use std::str::FromStr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The URL `scripts/postgres.sh start` prints.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:54329/lvmkit";
/// The table a bank goes to unless told otherwise.
pub const DEFAULT_TABLE: &str = "lvmkit_concepts";
/// One row per bank: which manifest it was loaded from, and whether the load finished.
pub const META_TABLE: &str = "lvmkit_banks";
/// Longest table name: its index, `<table>_hnsw`, must stay within PostgreSQL's 63 bytes.
pub const MAX_TABLE_LEN: usize = 50;
/// pgvector's ceiling for `hnsw.ef_search`.
const MAX_EF_SEARCH: usize = 1000;
/// First key of every advisory lock this module takes ("lvmk").
const LOCK_SPACE: i32 = 0x6c76_6d6b;
/// Most connections a [`PgIndex`] opens at once (searches beyond wait for one): the server
/// of `scripts/postgres.sh` takes 100, and the server's blocking pool runs up to 512 threads.
const MAX_OPEN: usize = 32;

/// Where the bank lives and how its HNSW index is built and searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user[:password]@host:port/database` (or libpq's `key=value` form).
    pub url: String,
    /// Table name: `[a-z_][a-z0-9_]*`, at most [`MAX_TABLE_LEN`] characters.
    pub table: String,
    /// HNSW `m`: links per node.
    pub connectivity: usize,
    /// HNSW `ef_construction`: candidate list size while building.
    pub expansion_add: usize,
    /// `hnsw.ef_search`: candidate list size while searching (raised to k when k is larger).
    pub expansion_search: usize,
    /// Rows per load transaction.
    pub batch_rows: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self::new(DEFAULT_URL)
    }
}

impl PgOptions {
    /// The defaults (table [`DEFAULT_TABLE`], m 16, ef_construction 128, ef_search 64, 5,000
    /// rows a batch) for a server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        let hnsw = crate::HnswSettings::default();
        Self {
            url: url.into(),
            table: DEFAULT_TABLE.to_string(),
            connectivity: hnsw.connectivity,
            expansion_add: hnsw.expansion_add,
            expansion_search: hnsw.expansion_search,
            batch_rows: 5000,
        }
    }

    /// The same graph settings as a usearch index would get.
    pub fn with_hnsw(mut self, s: &crate::HnswSettings) -> Self {
        self.connectivity = s.connectivity;
        self.expansion_add = s.expansion_add;
        self.expansion_search = s.expansion_search;
        self
    }

    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }
}

/// One concept to load.
#[derive(Debug, Clone, Copy)]
pub struct PgRow<'a> {
    pub row: u64,
    pub doc_id: &'a str,
    pub position: u32,
    pub text: &'a str,
    pub vector: &'a [f32],
}

/// What [`load`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Rows written by this call.
    pub inserted: usize,
    /// Rows found in the table already (an earlier, interrupted or finished, load).
    pub already_present: usize,
    /// Rows of the bank (`inserted + already_present`).
    pub rows: usize,
    pub load_seconds: f64,
    /// Building the HNSW index (near 0 when it was there already).
    pub index_seconds: f64,
    /// The table with its TOAST data, without indexes.
    pub table_bytes: u64,
    /// The HNSW index.
    pub index_bytes: u64,
}

/// `url` without its password (URL userinfo, `?password=` or libpq's `password=`), for messages.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let (scheme, rest) = url.split_at(scheme_end + 3);
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (auth, tail) = rest.split_at(auth_end);
        let auth = match auth.rfind('@') {
            Some(at) => {
                let (userinfo, host) = auth.split_at(at);
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{user}{host}")
            }
            None => auth.to_string(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                    .collect();
                if kept.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", kept.join("&"))
                }
            }
            None => tail.to_string(),
        };
        format!("{scheme}{auth}{tail}")
    } else {
        // key=value form; a quoted password may hold spaces.
        let mut out = Vec::new();
        let mut rest = url.trim();
        while !rest.is_empty() {
            let (item, next) = split_kv_item(rest);
            if !item.to_ascii_lowercase().starts_with("password") {
                out.push(item);
            }
            rest = next.trim_start();
        }
        out.join(" ")
    }
}

/// The first `key=value` item of a libpq connection string and what follows it.
fn split_kv_item(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    let mut after_eq = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'\'' if after_eq => quoted = !quoted,
            b'=' => after_eq = true,
            b' ' | b'\t' | b'\n' if !quoted && after_eq => {
                // `key = value`: spaces around '=' belong to the item.
                let before = s[..i].trim_end();
                if !before.ends_with('=') {
                    return (&s[..i], &s[i..]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (s, "")
}

/// Refuse table names that would need quoting, collide with the metadata table, or make the index
/// name too long.
pub fn validate_table(table: &str) -> Result<()> {
    let mut chars = table.chars();
    let ok_first = matches!(chars.next(), Some('a'..='z' | '_'));
    let ok_rest = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if !ok_first || !ok_rest || table.len() > MAX_TABLE_LEN {
        bail!(
            "invalid table name {table:?}: use lower-case letters, digits and '_', starting with a letter or '_', at most {MAX_TABLE_LEN} characters (e.g. --table {DEFAULT_TABLE})"
        );
    }
    if table == META_TABLE {
        bail!("invalid table name {table:?}: {META_TABLE} holds the banks' metadata; choose another --table");
    }
    Ok(())
}

/// A postgres error with its cause (the crate's own Display says only "db error").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string().replace('\n', "; ");
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Whether the connection failed because nothing listens there.
fn refused(e: &postgres::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = src {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) {
                return true;
            }
        }
        src = c.source();
    }
    false
}

/// The server and table every message names.
#[derive(Debug, Clone)]
struct Target {
    config: Config,
    /// The URL without its password.
    url: String,
    table: String,
}

impl Target {
    fn new(opts: &PgOptions) -> Result<Self> {
        let url = redact_url(&opts.url);
        validate_table(&opts.table)?;
        let mut config = Config::from_str(&opts.url).map_err(|e| {
            anyhow!(
                "{url} is not a PostgreSQL URL ({}); expected postgres://user@host:port/database, e.g. {DEFAULT_URL}",
                describe(&e)
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("lvmkit");
        }
        if config.get_options().is_none() {
            // The server's NOTICEs ("relation ... already exists, skipping" from every
            // `CREATE ... IF NOT EXISTS`) would reach the log as INFO lines.
            config.options("-c client_min_messages=warning");
        }
        Ok(Self {
            config,
            url,
            table: opts.table.clone(),
        })
    }

    /// "table T at URL", for messages.
    fn at(&self) -> String {
        format!("table {} at {}", self.table, self.url)
    }

    /// A failed statement, with what it was doing.
    fn err(&self, doing: &str, e: postgres::Error) -> anyhow::Error {
        anyhow!("{doing} ({}): {}", self.at(), describe(&e))
    }

    fn connect(&self) -> Result<Client> {
        self.config.connect(NoTls).map_err(|e| {
            let code = e.code();
            if refused(&e) {
                anyhow!(
                    "no PostgreSQL server is running at {} ({}); start one with `scripts/postgres.sh start` (needed for table {})",
                    self.url,
                    describe(&e),
                    self.table
                )
            } else if code == Some(&SqlState::INVALID_CATALOG_NAME) {
                anyhow!(
                    "the database of {} does not exist ({}); create it (`createdb`), or use the server of `scripts/postgres.sh start`, which creates `lvmkit` (needed for table {})",
                    self.url,
                    describe(&e),
                    self.table
                )
            } else if code == Some(&SqlState::INVALID_PASSWORD)
                || code == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
            {
                anyhow!(
                    "PostgreSQL at {} refused the login ({}); check the user and password in --url (needed for table {})",
                    self.url,
                    describe(&e),
                    self.table
                )
            } else {
                anyhow!(
                    "cannot connect to PostgreSQL at {} ({}); is `scripts/postgres.sh start` running it? (needed for table {})",
                    self.url,
                    describe(&e),
                    self.table
                )
            }
        })
    }

    /// The command that (re)loads this bank, for messages.
    fn load_command(&self) -> String {
        let table = if self.table == DEFAULT_TABLE {
            String::new()
        } else {
            format!(" --table {}", self.table)
        };
        format!(
            "lvmkit index --data <dataset> --backend postgres --url {}{table}",
            self.url
        )
    }
}

/// A bank's row of `lvmkit_banks`.
#[derive(Debug, Clone)]
struct Meta {
    manifest_hash: String,
    dim: usize,
    rows: usize,
    complete: bool,
    hnsw_m: Option<usize>,
    hnsw_ef_construction: Option<usize>,
}

fn read_meta(
    c: &mut impl postgres::GenericClient,
    t: &Target,
) -> std::result::Result<Option<Meta>, postgres::Error> {
    let exists: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("public.{META_TABLE}")],
        )?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = c.query_opt(
        &format!(
            "SELECT manifest_hash, dim, rows, complete, hnsw_m, hnsw_ef_construction FROM {META_TABLE} WHERE name = $1"
        ),
        &[&t.table],
    )?;
    Ok(row.map(|r| Meta {
        manifest_hash: r.get(0),
        dim: r.get::<_, i32>(1).max(0) as usize,
        rows: r.get::<_, i64>(2).max(0) as usize,
        complete: r.get(3),
        hnsw_m: r.get::<_, Option<i32>>(4).map(|v| v.max(0) as usize),
        hnsw_ef_construction: r.get::<_, Option<i32>>(5).map(|v| v.max(0) as usize),
    }))
}

fn table_exists(
    c: &mut impl postgres::GenericClient,
    name: &str,
) -> std::result::Result<bool, postgres::Error> {
    Ok(c.query_one(
        "SELECT to_regclass($1) IS NOT NULL",
        &[&format!("public.{name}")],
    )?
    .get(0))
}

/// (table, HNSW index) sizes in bytes.
fn sizes(c: &mut Client, table: &str) -> std::result::Result<(u64, u64), postgres::Error> {
    let r = c.query_one(
        "SELECT pg_table_size(to_regclass($1)), coalesce(pg_relation_size(to_regclass($2)), 0)",
        &[&format!("public.{table}"), &format!("public.{table}_hnsw")],
    )?;
    Ok((
        r.get::<_, Option<i64>>(0).unwrap_or(0).max(0) as u64,
        r.get::<_, Option<i64>>(1).unwrap_or(0).max(0) as u64,
    ))
}

/// Make sure the `vector` extension is installed in the database (creating it needs the right
/// to; `scripts/postgres.sh start` creates it).
fn ensure_vector(c: &mut Client, t: &Target) -> Result<()> {
    let have: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')",
            &[],
        )
        .map_err(|e| t.err("cannot read the installed extensions", e))?
        .get(0);
    if !have {
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").map_err(|e| {
            anyhow!(
                "the pgvector extension is not installed in the database of {} and cannot be created ({}); run `CREATE EXTENSION vector` there as a superuser, or use the server of `scripts/postgres.sh start` (PostgreSQL with pgvector)",
                t.url,
                describe(&e)
            )
        })?;
    }
    Ok(())
}

/// `maintenance_work_mem` for building an HNSW graph of `rows` vectors in memory (pgvector
/// falls back to a much slower build when the graph does not fit), in kB.
fn hnsw_build_memory_kb(rows: usize, dim: usize, m: usize) -> u64 {
    // Per element: the vector, ~2m neighbour slots at level 0 (plus the upper levels), headers.
    let per = (dim * 4 + m * 2 * 12 + 256) as u64;
    let bytes = rows as u64 * per * 3 / 2;
    (bytes / 1024).clamp(64 * 1024, 8 * 1024 * 1024)
}

/// Load `rows` (sorted by row) into the table of `opts`, creating the table, the `vector`
/// extension (when allowed) and the metadata table `lvmkit_banks(name, manifest_hash, dim, rows,
/// complete, hnsw_m, hnsw_ef_construction, loaded_at)`.
///
/// - A table loaded from another manifest hash, dim or row count is refused unless `replace`;
///   `replace` drops any table of that name (and its metadata) and loads it afresh.
/// - Resumable and idempotent: rows already in the table are skipped; the others go in by binary
///   COPY, `opts.batch_rows` a transaction, so a killed load leaves whole batches only. One load
///   per table at a time (an advisory lock; a second is refused).
/// - Then the HNSW index (`<table>_hnsw`, cosine) is built, the row count checked, and the bank
///   marked complete in one transaction, the last step: a killed load leaves `complete = false`,
///   which [`PgIndex::open`] refuses.
/// - `after_batch(rows in the table)` runs after each committed batch; an error from it stops
///   the load (and is returned).
pub fn load(
    opts: &PgOptions,
    manifest_hash: &str,
    dim: usize,
    rows: &[PgRow],
    replace: bool,
    after_batch: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<LoadReport> {
    let t = Target::new(opts)?;
    let table = t.table.as_str();
    let start = Instant::now();
    if dim == 0 || dim > 16000 {
        bail!(
            "cannot load {}: pgvector stores 1 to 16,000 dimensions, the bank has {dim}",
            t.at()
        );
    }
    if opts.connectivity < 2
        || opts.connectivity > 100
        || opts.expansion_add < 4
        || opts.expansion_add > 1000
    {
        bail!(
            "cannot load {}: pgvector's HNSW needs 2 ≤ m ≤ 100 and 4 ≤ ef_construction ≤ 1000 (got m {}, ef_construction {})",
            t.at(),
            opts.connectivity,
            opts.expansion_add
        );
    }
    if opts.expansion_add < 2 * opts.connectivity {
        bail!(
            "cannot load {}: pgvector's HNSW needs ef_construction ≥ 2 × m (got m {}, ef_construction {})",
            t.at(),
            opts.connectivity,
            opts.expansion_add
        );
    }
    for (i, r) in rows.iter().enumerate() {
        if r.vector.len() != dim {
            bail!(
                "cannot load {}: row {} has {} values, the bank {dim}",
                t.at(),
                r.row,
                r.vector.len()
            );
        }
        if i > 0 && rows[i - 1].row >= r.row {
            bail!(
                "cannot load {}: rows must be sorted by row without repeats (row {} follows {})",
                t.at(),
                r.row,
                rows[i - 1].row
            );
        }
        if r.row > i64::MAX as u64 || r.position > i32::MAX as u32 {
            bail!(
                "cannot load {}: row {} or its position {} is too large",
                t.at(),
                r.row,
                r.position
            );
        }
        if r.vector.iter().any(|x| !x.is_finite()) {
            bail!(
                "cannot load {}: the vector of row {} is not finite",
                t.at(),
                r.row
            );
        }
    }

    let mut c = t.connect()?;
    // Commits need not wait for the WAL flush: a server crash may lose the last batches, which the
    // next load re-inserts (it asks the table which rows it holds).
    c.batch_execute("SET synchronous_commit = off")
        .map_err(|e| t.err("cannot configure the session", e))?;
    let locked: bool = c
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&LOCK_SPACE, &table],
        )
        .map_err(|e| t.err("cannot take the load lock", e))?
        .get(0);
    if !locked {
        bail!(
            "another process is loading {} right now; wait for it to finish (or stop it) and run the load again",
            t.at()
        );
    }

    // Extension, metadata table and bank table, under one lock for every bank (two loads creating
    // `lvmkit_banks` at once would collide).
    {
        ensure_vector(&mut c, &t)?;
        let mut tx = c
            .transaction()
            .map_err(|e| t.err("cannot begin a transaction", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_SPACE])
            .map_err(|e| t.err("cannot take the setup lock", e))?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {META_TABLE} (
                name text PRIMARY KEY,
                manifest_hash text NOT NULL,
                dim int NOT NULL,
                rows bigint NOT NULL,
                complete bool NOT NULL DEFAULT false,
                hnsw_m int,
                hnsw_ef_construction int,
                loaded_at timestamptz
            )"
        ))
        .map_err(|e| t.err(&format!("cannot create {META_TABLE}"), e))?;
        let meta =
            read_meta(&mut tx, &t).map_err(|e| t.err("cannot read the bank's metadata", e))?;
        let exists =
            table_exists(&mut tx, table).map_err(|e| t.err("cannot look the table up", e))?;
        let fresh = if replace {
            true
        } else {
            match (&meta, exists) {
                (Some(m), true) => {
                    if m.manifest_hash != manifest_hash || m.dim != dim || m.rows != rows.len() {
                        bail!(
                            "{} was loaded from another version of the dataset (manifest hash {}, {} rows of {} dimensions; this dataset: {manifest_hash}, {} rows of {dim}); pass replace=true (`--replace`) to drop and reload it, or load into another `--table`",
                            t.at(),
                            m.manifest_hash,
                            m.rows,
                            m.dim,
                            rows.len()
                        );
                    }
                    false
                }
                (None, true) => bail!(
                    "{} exists but is not an lvmkit bank (no row in {META_TABLE}); pass replace=true (`--replace`) to drop it and load the bank there, or choose another `--table`",
                    t.at()
                ),
                (_, false) => true,
            }
        };
        if fresh {
            tx.batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
                .map_err(|e| t.err("cannot drop the old table", e))?;
            tx.batch_execute(&format!(
                "CREATE TABLE {table} (
                    \"row\" bigint PRIMARY KEY,
                    doc_id text NOT NULL,
                    \"position\" int NOT NULL,
                    \"text\" text NOT NULL,
                    embedding vector({dim}) NOT NULL
                )"
            ))
            .map_err(|e| t.err("cannot create the table", e))?;
            tx.execute(
                &format!(
                    "INSERT INTO {META_TABLE} (name, manifest_hash, dim, rows, complete, hnsw_m, hnsw_ef_construction)
                     VALUES ($1, $2, $3, $4, false, $5, $6)
                     ON CONFLICT (name) DO UPDATE SET manifest_hash = excluded.manifest_hash, dim = excluded.dim,
                       rows = excluded.rows, complete = false, hnsw_m = excluded.hnsw_m,
                       hnsw_ef_construction = excluded.hnsw_ef_construction, loaded_at = NULL"
                ),
                &[
                    &table,
                    &manifest_hash,
                    &(dim as i32),
                    &(rows.len() as i64),
                    &(opts.connectivity as i32),
                    &(opts.expansion_add as i32),
                ],
            )
            .map_err(|e| t.err(&format!("cannot record the bank in {META_TABLE}"), e))?;
        } else if let Some(m) = &meta {
            // Another graph asked for: drop the old one (it is rebuilt below).
            if m.hnsw_m != Some(opts.connectivity)
                || m.hnsw_ef_construction != Some(opts.expansion_add)
            {
                tx.batch_execute(&format!("DROP INDEX IF EXISTS {table}_hnsw"))
                    .map_err(|e| t.err("cannot drop the old HNSW index", e))?;
                tx.execute(
                    &format!(
                        "UPDATE {META_TABLE} SET complete = false, hnsw_m = $2, hnsw_ef_construction = $3 WHERE name = $1"
                    ),
                    &[&table, &(opts.connectivity as i32), &(opts.expansion_add as i32)],
                )
                .map_err(|e| t.err(&format!("cannot update {META_TABLE}"), e))?;
            }
        }
        tx.commit()
            .map_err(|e| t.err("cannot commit the table's creation", e))?;
    }

    // Which rows are there already (an interrupted or finished earlier load).
    let mut present: Vec<i64> = Vec::new();
    {
        let stmt = c
            .prepare(&format!("SELECT \"row\" FROM {table} ORDER BY \"row\""))
            .map_err(|e| t.err("cannot read the table's rows", e))?;
        let mut it = c
            .query_raw(&stmt, std::iter::empty::<&(dyn ToSql + Sync)>())
            .map_err(|e| t.err("cannot read the table's rows", e))?;
        use postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = it
            .next()
            .map_err(|e| t.err("cannot read the table's rows", e))?
        {
            present.push(r.get(0));
        }
    }
    let missing: Vec<&PgRow> = rows
        .iter()
        .filter(|r| present.binary_search(&(r.row as i64)).is_err())
        .collect();
    let already_present = rows.len() - missing.len();
    if present.len() > already_present {
        bail!(
            "{} holds {} rows that are not in this bank; pass replace=true (`--replace`) to drop and reload it",
            t.at(),
            present.len() - already_present
        );
    }
    drop(present);
    tracing::info!(
        table,
        present = already_present,
        missing = missing.len(),
        "loading the concept bank into PostgreSQL"
    );

    // The `vector` type's OID belongs to the extension: ask the server.
    let types: Vec<Type> = c
        .prepare(&format!(
            "SELECT \"row\", doc_id, \"position\", \"text\", embedding FROM {table}"
        ))
        .map_err(|e| t.err("cannot read the table's column types", e))?
        .columns()
        .iter()
        .map(|col| col.type_().clone())
        .collect();
    let copy = format!(
        "COPY {table} (\"row\", doc_id, \"position\", \"text\", embedding) FROM STDIN (FORMAT binary)"
    );
    let mut inserted = 0usize;
    for batch in missing.chunks(opts.batch_rows.max(1)) {
        let mut tx = c
            .transaction()
            .map_err(|e| t.err("cannot begin a transaction", e))?;
        let sink = tx
            .copy_in(&copy)
            .map_err(|e| t.err("cannot start the COPY", e))?;
        let mut w = BinaryCopyInWriter::new(sink, &types);
        for r in batch {
            let row = r.row as i64;
            let position = r.position as i32;
            let v = Vector::from(r.vector.to_vec());
            w.write(&[&row, &r.doc_id, &position, &r.text, &v])
                .map_err(|e| t.err(&format!("cannot write row {}", r.row), e))?;
        }
        w.finish().map_err(|e| t.err("cannot finish the COPY", e))?;
        tx.commit().map_err(|e| t.err("cannot commit a batch", e))?;
        inserted += batch.len();
        after_batch(already_present + inserted)?;
    }
    let load_seconds = start.elapsed().as_secs_f64();

    // The HNSW index, with room to build it in memory.
    let index_start = Instant::now();
    let want_kb = hnsw_build_memory_kb(rows.len(), dim, opts.connectivity);
    let have_kb: i64 = c
        .query_one(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'",
            &[],
        )
        .map_err(|e| t.err("cannot read maintenance_work_mem", e))?
        .get(0);
    if (have_kb as u64) < want_kb {
        c.batch_execute(&format!("SET maintenance_work_mem = '{want_kb}kB'"))
            .map_err(|e| t.err("cannot raise maintenance_work_mem", e))?;
    }
    c.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})",
        opts.connectivity, opts.expansion_add
    ))
    .map_err(|e| t.err("cannot build the HNSW index", e))?;
    let index_seconds = index_start.elapsed().as_secs_f64();

    // Count check and completion, together, last.
    {
        let mut tx = c
            .transaction()
            .map_err(|e| t.err("cannot begin a transaction", e))?;
        let count: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(|e| t.err("cannot count the rows", e))?
            .get(0);
        if count as usize != rows.len() {
            bail!(
                "{} holds {count} rows after the load, the bank {}; run the load again (with replace=true, `--replace`, if this repeats)",
                t.at(),
                rows.len()
            );
        }
        tx.execute(
            &format!(
                "UPDATE {META_TABLE} SET complete = true, loaded_at = now(), hnsw_m = $2, hnsw_ef_construction = $3 WHERE name = $1"
            ),
            &[&table, &(opts.connectivity as i32), &(opts.expansion_add as i32)],
        )
        .map_err(|e| t.err("cannot mark the bank complete", e))?;
        tx.commit()
            .map_err(|e| t.err("cannot mark the bank complete", e))?;
    }
    let (table_bytes, index_bytes) =
        sizes(&mut c, table).map_err(|e| t.err("cannot read the table's size", e))?;
    c.execute(
        "SELECT pg_advisory_unlock($1, hashtext($2))",
        &[&LOCK_SPACE, &table],
    )
    .map_err(|e| t.err("cannot release the load lock", e))?;
    Ok(LoadReport {
        inserted,
        already_present,
        rows: rows.len(),
        load_seconds,
        index_seconds,
        table_bytes,
        index_bytes,
    })
}

/// (row, cosine similarity) of each hit, best first.
pub type Hits = Vec<(u64, f32)>;

/// One pooled connection with its prepared search.
struct Conn {
    client: Client,
    search: Statement,
    /// The `hnsw.ef_search` this session has.
    ef: usize,
}

/// A loaded bank, searched through its HNSW index. Connections are pooled (more are opened when
/// more threads search at once); safe to share between threads.
pub struct PgIndex {
    /// Boxed: `Config` is large, and a `PgIndex` sits in enums beside small indexes.
    target: Box<Target>,
    dim: usize,
    rows: usize,
    expansion_search: usize,
    pool: Mutex<Pool>,
    /// Signalled when a connection goes back to the pool or is closed.
    freed: Condvar,
}

/// Idle connections, and how many are open (idle or lent).
#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

/// A connection lent by [`PgIndex::take`]; it goes back to the pool when dropped.
struct Lease<'a> {
    index: &'a PgIndex,
    conn: Option<Conn>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.index.give_back(c);
        }
    }
}

impl Drop for PgIndex {
    /// A `postgres::Client` closes by blocking on its own runtime, which panics on a thread that
    /// runs async tasks, where a server drops its state on shutdown: the idle connections are
    /// closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.pool.get_mut().unwrap_or_else(|e| e.into_inner()).idle);
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl PgIndex {
    /// Open the bank in `opts.table` for search, refusing (with what to run) a table that is
    /// missing, whose load did not finish, loaded from another manifest hash, or of another
    /// dim or row count.
    pub fn open(
        opts: &PgOptions,
        manifest_hash: &str,
        dim: usize,
        expected_rows: usize,
    ) -> Result<Self> {
        let t = Target::new(opts)?;
        let mut c = t.connect()?;
        let meta =
            read_meta(&mut c, &t).map_err(|e| t.err("cannot read the bank's metadata", e))?;
        let exists =
            table_exists(&mut c, &t.table).map_err(|e| t.err("cannot look the table up", e))?;
        let load = t.load_command();
        let m = match meta {
            Some(m) if exists => m,
            _ => bail!(
                "no concept bank in {} (no such table, or no row in {META_TABLE}); load it with `{load}`",
                t.at()
            ),
        };
        if !m.complete {
            bail!(
                "the load of {} is not complete (interrupted, or still running); run `{load}` again to finish it",
                t.at()
            );
        }
        if m.manifest_hash != manifest_hash {
            bail!(
                "{} was built from another version of the dataset (manifest hash {}, the dataset's is {manifest_hash}); reload it with `{load} --replace`",
                t.at(),
                m.manifest_hash
            );
        }
        if m.dim != dim {
            bail!(
                "{} holds vectors of {} dimensions, the bank has {dim}; reload it with `{load} --replace`",
                t.at(),
                m.dim
            );
        }
        if m.rows != expected_rows {
            bail!(
                "{} holds {} concepts, the bank has {expected_rows}; reload it with `{load} --replace`",
                t.at(),
                m.rows
            );
        }
        if !table_exists(&mut c, &format!("{}_hnsw", t.table))
            .map_err(|e| t.err("cannot look the index up", e))?
        {
            bail!(
                "{} has no HNSW index ({}_hnsw); run `{load}` again to build it",
                t.at(),
                t.table
            );
        }
        let index = Self {
            target: Box::new(t),
            dim,
            rows: expected_rows,
            expansion_search: opts.expansion_search,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
        };
        let conn = index.prepare(c)?;
        index.give_back(conn);
        Ok(index)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn table(&self) -> &str {
        &self.target.table
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.target.url
    }

    pub fn expansion_search(&self) -> usize {
        self.expansion_search
    }

    /// `hnsw.ef_search` for later searches (each connection takes it up at its next search).
    pub fn set_expansion_search(&mut self, ef: usize) {
        self.expansion_search = ef;
    }

    fn prepare(&self, mut client: Client) -> Result<Conn> {
        let t = &self.target;
        // strict_order: when k exceeds ef_search (at most 1,000), keep scanning in order.
        client
            .batch_execute("SET hnsw.iterative_scan = strict_order")
            .map_err(|e| t.err("cannot configure the search session", e))?;
        let search = client
            .prepare(&format!(
                "SELECT \"row\", embedding <=> $1 FROM {} ORDER BY embedding <=> $1 LIMIT $2",
                t.table
            ))
            .map_err(|e| t.err("cannot prepare the search", e))?;
        Ok(Conn {
            client,
            search,
            ef: 0,
        })
    }

    /// An idle connection, or a new one while fewer than [`MAX_OPEN`] are open, or the next
    /// one given back.
    fn take(&self) -> Result<Lease<'_>> {
        let lock = || self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let mut pool = lock();
        loop {
            if let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(Lease {
                        index: self,
                        conn: Some(c),
                    });
                }
                pool.open -= 1;
                continue;
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                break;
            }
            pool = self.freed.wait(pool).unwrap_or_else(|e| e.into_inner());
        }
        drop(pool);
        match self.target.connect().and_then(|c| self.prepare(c)) {
            Ok(c) => Ok(Lease {
                index: self,
                conn: Some(c),
            }),
            Err(e) => {
                lock().open -= 1;
                self.freed.notify_one();
                Err(e)
            }
        }
    }

    /// Back to the pool; a connection the server closed is let go.
    fn give_back(&self, conn: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if conn.client.is_closed() {
            pool.open -= 1;
        } else {
            pool.idle.push(conn);
        }
        self.freed.notify_one();
    }

    fn search_on(&self, conn: &mut Conn, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        let t = &self.target;
        if query.len() != self.dim {
            bail!(
                "query has {} values, the bank in {} {}",
                query.len(),
                t.at(),
                self.dim
            );
        }
        if query.iter().any(|x| !x.is_finite()) || query.iter().all(|&x| x == 0.0) {
            bail!(
                "the query is zero or not finite: it has no cosine to the bank in {}",
                t.at()
            );
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let ef = self.expansion_search.max(k).clamp(1, MAX_EF_SEARCH);
        if conn.ef != ef {
            conn.client
                .batch_execute(&format!("SET hnsw.ef_search = {ef}"))
                .map_err(|e| t.err("cannot set hnsw.ef_search", e))?;
            conn.ef = ef;
        }
        let q = Vector::from(query.to_vec());
        let rows = conn
            .client
            .query(&conn.search, &[&q, &(k as i64)])
            .map_err(|e| t.err("search failed", e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let row: i64 = r.get(0);
                let distance: f64 = r.get(1);
                (row as u64, (1.0 - distance) as f32)
            })
            .collect())
    }

    /// The `k` nearest concepts of `query` by cosine (through the HNSW index), best first, as
    /// (row, cosine similarity). The query need not be unit length.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        let mut conn = self.take()?;
        self.search_on(&mut conn, query, k)
    }

    /// [`search`](Self::search) for each query of `queries` ([n, dim]) over `threads`
    /// connections at once; results in query order.
    pub fn search_many(
        &self,
        queries: &[f32],
        k: usize,
        threads: usize,
    ) -> Result<Vec<Vec<(u64, f32)>>> {
        if self.dim == 0 || !queries.len().is_multiple_of(self.dim) {
            bail!(
                "{} query values are not whole queries of {} dimensions ({})",
                queries.len(),
                self.dim,
                self.target.at()
            );
        }
        let n = queries.len() / self.dim;
        if n == 0 {
            return Ok(Vec::new());
        }
        let threads = threads.clamp(1, n);
        let per = n.div_ceil(threads);
        let parts: Vec<Result<Vec<Hits>>> = std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .chunks(per * self.dim)
                .map(|part| {
                    s.spawn(move || -> Result<Vec<Hits>> {
                        let mut conn = self.take()?;
                        part.chunks_exact(self.dim)
                            .map(|q| self.search_on(&mut conn, q, k))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("a search thread panicked")))
                })
                .collect()
        });
        let mut out = Vec::with_capacity(n);
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }

    /// (table with TOAST, HNSW index) sizes in bytes.
    pub fn table_bytes(&self) -> Result<(u64, u64)> {
        let mut conn = self.take()?;
        sizes(&mut conn.client, &self.target.table)
            .map_err(|e| self.target.err("cannot read the table's size", e))
    }
}

/// Drop a bank's table and its metadata row (tests, `--replace` by hand).
pub fn drop_bank(opts: &PgOptions) -> Result<()> {
    let t = Target::new(opts)?;
    let mut c = t.connect()?;
    let mut tx = c
        .transaction()
        .map_err(|e| t.err("cannot begin a transaction", e))?;
    tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", t.table))
        .map_err(|e| t.err("cannot drop the table", e))?;
    if read_meta(&mut tx, &t)
        .map_err(|e| t.err("cannot read the bank's metadata", e))?
        .is_some()
    {
        tx.execute(
            &format!("DELETE FROM {META_TABLE} WHERE name = $1"),
            &[&t.table],
        )
        .map_err(|e| t.err(&format!("cannot delete the bank from {META_TABLE}"), e))?;
    }
    tx.commit()
        .map_err(|e| t.err("cannot commit the drop", e))
        .context("drop_bank")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://me:secret@db.example:5432/lvmkit"),
            "postgres://me@db.example:5432/lvmkit"
        );
        assert_eq!(
            redact_url("postgresql://me:s%40c@h/db?sslmode=disable&password=x"),
            "postgresql://me@h/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:54329/lvmkit"),
            "postgres://postgres@127.0.0.1:54329/lvmkit"
        );
        assert_eq!(
            redact_url("host=localhost password='a b' user=me"),
            "host=localhost user=me"
        );
        assert_eq!(
            redact_url("host=h password = x dbname=d"),
            "host=h dbname=d"
        );
    }

    #[test]
    fn table_names() {
        for ok in ["lvmkit_concepts", "_t", "a1", "a".repeat(50).as_str()] {
            validate_table(ok).unwrap();
        }
        for bad in [
            "",
            "1a",
            "A",
            "a-b",
            "a b",
            "a;drop",
            "lvmkit_banks",
            "a".repeat(51).as_str(),
        ] {
            assert!(validate_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pool_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<PgIndex>();
    }
}

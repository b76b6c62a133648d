//! The HNSW graph against brute force on clustered unit vectors, and its file round trip.

use lvmkit_index::hnsw::Hnsw;
use lvmkit_index::HnswSettings;
use rand::{Rng, SeedableRng};

fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Clustered like sentence embeddings, not uniform on the sphere.
    let centres: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = &centres[rng.gen_range(0..centres.len())];
        let v: Vec<f32> = c.iter().map(|x| x + rng.gen_range(-0.6f32..0.6)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.extend(v.iter().map(|x| x / norm));
    }
    out
}

fn brute_force(bank: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<u64> {
    let mut scored: Vec<(u64, f32)> = bank
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| (i as u64, v.iter().zip(q).map(|(a, b)| a * b).sum()))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().take(k).map(|(i, _)| i).collect()
}

#[test]
fn hnsw_finds_the_true_neighbours_and_survives_a_save_and_load() {
    let (n, dim) = (3000, 48);
    let bank = unit_vectors(n, dim, 1);
    let keys: Vec<u64> = (0..n as u64).collect();
    let settings = HnswSettings::default();
    let build = || {
        Hnsw::build(
            &bank,
            dim,
            &keys,
            &settings,
            1,
            &indicatif::ProgressBar::hidden(),
        )
        .unwrap()
    };
    let hnsw = build();
    assert_eq!(hnsw.len(), n);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hnsw.usearch");
    // Built on one thread, the index is the same file every time.
    hnsw.save(&path).unwrap();
    build().save(&dir.path().join("again.usearch")).unwrap();
    assert!(
        std::fs::read(&path).unwrap() == std::fs::read(dir.path().join("again.usearch")).unwrap(),
        "two one-thread builds wrote different files"
    );

    // Every vector finds itself first, with cosine 1.
    for i in (0..n).step_by(97) {
        let hit = hnsw.search(&bank[i * dim..(i + 1) * dim], 1).unwrap()[0];
        assert_eq!(hit.0, i as u64);
        assert!((hit.1 - 1.0).abs() < 1e-4);
    }

    // Recall@10 on queries that are not in the bank.
    let queries = unit_vectors(200, dim, 2);
    let recall = |h: &Hnsw| {
        queries
            .chunks_exact(dim)
            .map(|q| {
                let truth = brute_force(&bank, dim, q, 10);
                let got: Vec<u64> = h.search(q, 10).unwrap().iter().map(|x| x.0).collect();
                got.iter().filter(|g| truth.contains(g)).count() as f64 / 10.0
            })
            .sum::<f64>()
            / 200.0
    };
    let r = recall(&hnsw);
    assert!(r >= 0.95, "recall@10 {r}");

    let loaded = Hnsw::load(&path, dim, &settings, n).unwrap();
    // A saved graph answers exactly as it did before it was saved.
    for q in queries.chunks_exact(dim) {
        assert_eq!(loaded.search(q, 10).unwrap(), hnsw.search(q, 10).unwrap());
    }
    // A file that does not hold this bank is refused.
    let err = Hnsw::load(&path, dim, &settings, n + 1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("rebuild it"), "{err}");
    std::fs::write(&path, b"not an index").unwrap();
    assert!(Hnsw::load(&path, dim, &settings, n).is_err());
}

#[test]
fn concurrent_searches_beyond_the_reserved_contexts_wait_instead_of_failing() {
    let (n, dim) = (500, 16);
    let bank = unit_vectors(n, dim, 3);
    let keys: Vec<u64> = (0..n as u64).collect();
    let hnsw = Hnsw::build(
        &bank,
        dim,
        &keys,
        &HnswSettings::default(),
        0,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..64 {
            let (hnsw, bank) = (&hnsw, &bank);
            s.spawn(move || {
                for i in 0..50 {
                    let r = (t * 50 + i) % n;
                    let hits = hnsw.search(&bank[r * dim..(r + 1) * dim], 3).unwrap();
                    assert_eq!(hits.len(), 3);
                }
            });
        }
    });
}

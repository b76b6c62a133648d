//! The Rust encoder against the original sentence-transformers implementation.

mod common;

use lvmkit_encode::{cosine, EncodeOptions, SentenceEncoder};

#[test]
fn every_reference_embedding_is_reproduced() {
    let enc = SentenceEncoder::load(&common::minilm_dir()).unwrap();
    assert_eq!(enc.dim(), 384);
    let text = std::fs::read_to_string(common::testdata().join("minilm-reference.jsonl")).unwrap();
    let mut texts = Vec::new();
    let mut refs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        texts.push(v["text"].as_str().unwrap().to_string());
        refs.push(
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect::<Vec<f32>>(),
        );
    }
    assert!(texts.len() >= 50, "reference file too short");
    // Batched (with padding) and one at a time must both match.
    let batched = enc
        .encode(
            &texts,
            &EncodeOptions {
                batch_size: 16,
                progress: false,
                ..Default::default()
            },
        )
        .unwrap();
    let mut worst = 1f32;
    for (i, r) in refs.iter().enumerate() {
        let got = &batched[i * 384..(i + 1) * 384];
        let c = cosine(got, r);
        worst = worst.min(c);
        assert!(
            c >= 0.9999,
            "line {}: cosine {c} to the reference for {:?}",
            i + 1,
            texts[i]
        );
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
    }
    let single = enc
        .encode(
            &texts[..3],
            &EncodeOptions {
                batch_size: 1,
                progress: false,
                ..Default::default()
            },
        )
        .unwrap();
    for i in 0..3 {
        assert!(
            cosine(
                &single[i * 384..(i + 1) * 384],
                &batched[i * 384..(i + 1) * 384]
            ) > 0.99999
        );
    }
    eprintln!(
        "worst cosine to the reference over {} texts: {worst:.6}",
        texts.len()
    );
}

fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].partial_cmp(&x[b]).unwrap());
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0; // ties share their mean rank
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn spearman_rank_handles_ties() {
    assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
    assert!((pearson(&ranks(&[1.0, 2.0, 3.0]), &ranks(&[3.0, 2.0, 1.0])) + 1.0).abs() < 1e-12);
}

#[test]
fn stsb_test_spearman_matches_the_original() {
    let enc = SentenceEncoder::load(&common::minilm_dir()).unwrap();
    let text = std::fs::read_to_string(common::testdata().join("stsb/sts-test.csv")).unwrap();
    let (mut gold, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 7,
            "sts-test.csv line {} has {} columns",
            i + 1,
            cols.len()
        );
        gold.push(cols[4].parse::<f64>().unwrap());
        a.push(cols[5].to_string());
        b.push(cols[6].to_string());
    }
    assert_eq!(gold.len(), 1379);
    let opts = EncodeOptions {
        batch_size: 64,
        progress: false,
        ..Default::default()
    };
    let (va, vb) = (
        enc.encode(&a, &opts).unwrap(),
        enc.encode(&b, &opts).unwrap(),
    );
    let sims: Vec<f64> = (0..gold.len())
        .map(|i| cosine(&va[i * 384..(i + 1) * 384], &vb[i * 384..(i + 1) * 384]) as f64)
        .collect();
    let rho = pearson(&ranks(&sims), &ranks(&gold));
    eprintln!("STS-B test Spearman: {rho:.4} (original sentence-transformers: 0.8203)");
    assert!(rho >= 0.82, "Spearman {rho:.4} < 0.82");
}

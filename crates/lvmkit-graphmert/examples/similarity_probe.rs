//! How well does a sentence-encoder similarity separate true seed triples from corrupted ones?
//! Seed edges only (never the held-out ones). Prints the AUC of several ways to compare.
//!
//!   cargo run --release -p lvmkit-graphmert --example similarity_probe
//!
//! Needs the fetched data (`lvmkit fetch`) in $LVMKIT_DATA, else the repository's data/.
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use lvmkit_graphmert::{DataOptions, GraphData, RELATIONS};
use lvmkit_sources::{DataDir, DEFAULT_ENCODER, GENE_ONTOLOGY};
use rand::{Rng, SeedableRng};

fn auc(pos: &[f32], neg: &[f32]) -> f64 {
    let mut wins = 0.0;
    for p in pos {
        for n in neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

fn main() -> anyhow::Result<()> {
    let data = DataDir::of_repository();
    data.require(&[GENE_ONTOLOGY, DEFAULT_ENCODER])?;
    let d = GraphData::from_data_dir(&data, &DataOptions::default())?;
    let enc = SentenceEncoder::load(&data.default_encoder())?;
    let own: std::collections::HashMap<u32, usize> =
        d.sequences.iter().map(|s| (s.term, s.id)).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let ont = &d.ontology;
    let mut rows = Vec::new();
    while rows.len() < 1500 {
        let e = d.split.seed[rng.gen_range(0..d.split.seed.len())];
        let Some(&s) = own.get(&e.child) else {
            continue;
        };
        let ns = ont.terms[e.parent as usize].namespace;
        let fake = loop {
            let t = rng.gen_range(0..ont.terms.len());
            if ont.terms[t].namespace == ns && t as u32 != e.parent && t as u32 != e.child {
                break t as u32;
            }
        };
        rows.push((s, e.child, e.relation, e.parent, fake));
    }
    let mut texts = Vec::new();
    for &(s, h, r, t, f) in &rows {
        let seq = &d.sequences[s].text;
        let hn = &ont.terms[h as usize].name;
        let rel = RELATIONS[r as usize].replace('_', " ");
        let def = seq.split_once(": ").map(|x| x.1).unwrap_or(seq).to_string();
        for x in [
            seq.clone(),
            def.clone(),
            format!("{hn} {rel} {}", ont.terms[t as usize].name),
            format!("{hn} {rel} {}", ont.terms[f as usize].name),
            ont.terms[t as usize].name.clone(),
            ont.terms[f as usize].name.clone(),
            format!("{hn} {rel}"),
        ] {
            texts.push(x);
        }
    }
    let v = enc.encode(&texts, &EncodeOptions::default())?;
    let dim = enc.dim();
    let at = |i: usize| &v[i * dim..(i + 1) * dim];
    let cos = |a: usize, b: usize| lvmkit_encode::cosine(at(a), at(b));
    let (mut a_p, mut a_n, mut c_p, mut c_n, mut d_p, mut d_n, mut e_p, mut e_n) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for i in 0..rows.len() {
        let b = i * 7;
        a_p.push(cos(b + 2, b));
        a_n.push(cos(b + 3, b));
        c_p.push(cos(b + 4, b + 1));
        c_n.push(cos(b + 5, b + 1));
        d_p.push(cos(b + 2, b) - cos(b + 6, b));
        d_n.push(cos(b + 3, b) - cos(b + 6, b));
        e_p.push(cos(b + 4, b));
        e_n.push(cos(b + 5, b));
    }
    let mean = |x: &[f32]| x.iter().sum::<f32>() / x.len() as f32;
    for (name, p, n) in [
        ("'h r t' vs text", &a_p, &a_n),
        ("tail vs definition", &c_p, &c_n),
        ("'h r t' - 'h r' vs text", &d_p, &d_n),
        ("tail vs text", &e_p, &e_n),
    ] {
        let mut q = p.clone();
        q.sort_by(|a, b| a.total_cmp(b));
        println!("{name}: AUC {:.3}, mean true {:.3} corrupted {:.3}, true quantiles 10% {:.3} 50% {:.3}", auc(p, n), mean(p), mean(n), q[q.len() / 10], q[q.len() / 2]);
    }
    Ok(())
}

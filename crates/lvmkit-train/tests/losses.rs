//! Loss values against numbers worked out by hand.

use candle_core::{Device, Tensor};
use lvmkit_train::loss::{cosine_loss, infonce_loss, moment_loss, mse_loss, variance_loss};
use lvmkit_train::LossConfig;

fn t(rows: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (rows.len(), 2), &Device::Cpu).unwrap()
}

fn scalar(x: Tensor) -> f32 {
    x.to_scalar::<f32>().unwrap()
}

// p = [[1,0],[0,1]], y = [[0.6,0.8],[0,1]].
fn case() -> (Tensor, Tensor) {
    (t(&[[1.0, 0.0], [0.0, 1.0]]), t(&[[0.6, 0.8], [0.0, 1.0]]))
}

#[test]
fn cosine_is_one_minus_mean_cosine() {
    let (p, y) = case();
    // cosines 0.6 and 1 → mean 0.8.
    assert!((scalar(cosine_loss(&p, &y).unwrap()) - 0.2).abs() < 1e-6);
}

#[test]
fn mse_is_the_mean_over_all_elements() {
    let (p, y) = case();
    // (0.4² + 0.8² + 0 + 0) / 4 = 0.2.
    assert!((scalar(mse_loss(&p, &y).unwrap()) - 0.2).abs() < 1e-6);
}

#[test]
fn infonce_matches_the_softmax_cross_entropy() {
    let (p, y) = case();
    // τ = 1: logits p·yᵀ = [[0.6, 0], [0.8, 1]];
    // row 0: log(1 + e^-0.6) = 0.437488, row 1: log(1 + e^-0.2) = 0.598139.
    let v = scalar(infonce_loss(&p, &y, 1.0).unwrap());
    assert!((v - 0.517_813_5).abs() < 1e-5, "{v}");
    // τ = 0.5 doubles the logits: log(1+e^-1.2) = 0.263282, log(1+e^-0.4) = 0.513015.
    let v = scalar(infonce_loss(&p, &y, 0.5).unwrap());
    assert!((v - 0.388_148_5).abs() < 1e-5, "{v}");
}

#[test]
fn infonce_does_not_count_a_repeated_target_as_a_negative() {
    // Both rows have the same target: no negatives remain, each row's loss is log(1) = 0.
    let p = t(&[[1.0, 0.0], [0.0, 1.0]]);
    let y = t(&[[0.6, 0.8], [0.6, 0.8]]);
    assert!(scalar(infonce_loss(&p, &y, 0.07).unwrap()).abs() < 1e-6);
}

#[test]
fn moment_matches_batch_mean_and_std() {
    let (p, y) = case();
    // means: p [0.5, 0.5], y [0.3, 0.9] → (0.04 + 0.16)/2 = 0.1;
    // stds:  p [0.5, 0.5], y [0.3, 0.1] → (0.04 + 0.16)/2 = 0.1.
    assert!((scalar(moment_loss(&p, &y).unwrap()) - 0.2).abs() < 1e-5);
}

#[test]
fn variance_penalises_predictions_that_spread_less_than_targets() {
    let (p, y) = case();
    // Predictions spread more than targets (0.5 > 0.3, 0.1): no penalty.
    assert!(scalar(variance_loss(&p, &y).unwrap()).abs() < 1e-5);
    // Collapsed predictions: std 0 → mean(0.3, 0.1) = 0.2.
    let collapsed = t(&[[1.0, 0.0], [1.0, 0.0]]);
    assert!((scalar(variance_loss(&collapsed, &y).unwrap()) - 0.2).abs() < 1e-5);
}

#[test]
fn weighted_total_and_components() {
    let (p, y) = case();
    let cfg = LossConfig {
        cosine: 1.0,
        mse: 2.0,
        infonce: 0.5,
        moment: 0.0,
        variance: 0.0,
        temperature: 1.0,
    };
    let v = cfg.compute(&p, &y).unwrap();
    let names: Vec<&str> = v.components.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["cosine", "mse", "infonce"]);
    let expected = 0.2 + 2.0 * 0.2 + 0.5 * 0.517_813_5;
    assert!((scalar(v.total) - expected).abs() < 1e-5);
}

#[test]
fn bad_loss_configs_are_refused() {
    let zero = LossConfig {
        cosine: 0.0,
        ..LossConfig::default()
    };
    assert!(zero
        .validate()
        .unwrap_err()
        .to_string()
        .contains("nothing to train"));
    let neg = LossConfig {
        mse: -1.0,
        ..LossConfig::default()
    };
    assert!(neg.validate().unwrap_err().to_string().contains("mse"));
    let t0 = LossConfig {
        temperature: 0.0,
        ..LossConfig::default()
    };
    assert!(t0.validate().is_err());
}

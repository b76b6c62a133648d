//! Small numeric helpers shared by the modules: candle tensors on the CPU for the big products
//! (candle's matmul is the multi-threaded `gemm` crate) and f64 dot products for the per-window
//! numbers, which are summed over tens of thousands of windows.

use anyhow::Result;
use candle_core::{Device, Tensor};

/// A row-major [rows, cols] f32 tensor (copies `data`).
pub(crate) fn tensor(data: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    Ok(Tensor::from_slice(data, (rows, cols), &Device::Cpu)?)
}

/// The elements of a tensor, row-major.
pub(crate) fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Cosine similarity; 0 when either vector is zero (a zero prediction points nowhere).
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let n = (dot(a, a) * dot(b, b)).sqrt();
    if n > 0.0 {
        dot(a, b) / n
    } else {
        0.0
    }
}

/// Scales each row of a row-major [_, dim] matrix to unit length (zero rows stay zero).
pub(crate) fn normalise_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let n = dot(row, row).sqrt();
        if n > 0.0 {
            let inv = (1.0 / n) as f32;
            row.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_operands_multiply_like_the_textbook() {
        // a is 3×2; aᵀa is 2×2 and a·aᵀ is 3×3: checks candle reads transposed views right.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let t = tensor(&a, 3, 2).unwrap();
        let ata = values(&t.t().unwrap().matmul(&t).unwrap()).unwrap();
        assert_eq!(ata, vec![35.0, 44.0, 44.0, 56.0]);
        let aat = values(&t.matmul(&t.t().unwrap()).unwrap()).unwrap();
        assert_eq!(aat[..3], [5.0, 11.0, 17.0]);
    }

    #[test]
    fn normalising_keeps_zero_rows() {
        let mut m = vec![3.0, 4.0, 0.0, 0.0];
        normalise_rows(&mut m, 2);
        assert_eq!(m, vec![0.6, 0.8, 0.0, 0.0]);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}

//! NumPy `.npz` archives (what `np.savez` writes): a zip of `.npy` members.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

use crate::npy::{encode_header, parse_header, Element};

/// One f32 array to store in an archive.
pub struct Array<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

/// Writes `arrays` into an uncompressed `.npz` (as `np.savez` does), atomically.
pub fn write_f32(path: &Path, arrays: &[Array<'_>]) -> Result<()> {
    crate::atomic::write_atomic(path, |w| {
        // zip needs Seek; build in memory-backed cursor, then copy. Archives here are exports
        // of a dataset split, which already fits in memory.
        let mut cursor = std::io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut cursor);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(true);
            for a in arrays {
                zip.start_file(format!("{}.npy", a.name), opts)?;
                zip.write_all(&encode_header(f32::DESCR, &a.shape))?;
                zip.write_all(bytemuck::cast_slice(a.data))?;
            }
            zip.finish()?;
        }
        w.write_all(cursor.get_ref())?;
        Ok(())
    })
}

/// Reads one f32 member (`name`, without `.npy`) of an `.npz` archive.
pub fn read_f32(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not an .npz (zip) archive", path.display()))?;
    let member = format!("{name}.npy");
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut entry = match zip.by_name(&member) {
        Ok(e) => e,
        Err(_) => bail!(
            "{} has no array '{name}' (it has: {})",
            path.display(),
            names
                .iter()
                .map(|n| n.trim_end_matches(".npy"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read '{name}' from {}", path.display()))?;
    let what = path.join(&member);
    let (header, offset) = parse_header(&bytes, &what)?;
    if header.descr != f32::DESCR {
        bail!(
            "{}: array '{name}' is {}, expected float32 (<f4)",
            path.display(),
            header.descr
        );
    }
    if header.fortran_order {
        bail!("{}: array '{name}' is in Fortran order", path.display());
    }
    let need = header.len() * 4;
    if bytes.len() - offset < need {
        bail!("{}: array '{name}' is truncated", path.display());
    }
    let data = bytes[offset..offset + need]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok((header.shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npz_roundtrip_and_missing_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let x = [1.0f32, 2.0, 3.0, 4.0];
        write_f32(
            &path,
            &[Array {
                name: "x",
                shape: vec![2, 2],
                data: &x,
            }],
        )
        .unwrap();
        assert_eq!(read_f32(&path, "x").unwrap(), (vec![2, 2], x.to_vec()));
        let err = read_f32(&path, "y").unwrap_err().to_string();
        assert!(
            err.contains("has no array 'y'") && err.contains("x"),
            "{err}"
        );
    }
}

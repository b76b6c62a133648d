//! NumPy `.npy` files (format 1.0/2.0/3.0), little-endian, C order.
//!
//! Written by hand rather than through `npyz`/`ndarray-npy`: the format is a 10-byte preamble
//! plus a Python-dict header, and owning it lets the reader hand out a zero-copy `&[f32]` over a
//! memory map, which is what a large concept bank needs.

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element types lvmkit stores in `.npy` files.
pub trait Element: bytemuck::Pod {
    /// NumPy's `descr` string for this type.
    const DESCR: &'static str;
}
impl Element for f32 {
    const DESCR: &'static str = "<f4";
}
impl Element for i64 {
    const DESCR: &'static str = "<i8";
}
impl Element for u32 {
    const DESCR: &'static str = "<u4";
}

/// The header NumPy writes: dtype, order and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

impl Header {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The header bytes (preamble included), padded so the data starts on a 64-byte boundary.
pub fn encode_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_str = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Parses the preamble and header; returns the header and the byte offset of the data.
pub fn parse_header(bytes: &[u8], path: &Path) -> Result<(Header, usize)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("{} is not a .npy file (bad magic bytes)", path.display());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("{}: truncated .npy header", path.display());
            }
            (
                u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
                12,
            )
        }
        v => bail!("{}: unsupported .npy version {v}", path.display()),
    };
    let end = start + len;
    if bytes.len() < end {
        bail!("{}: truncated .npy header", path.display());
    }
    let text = std::str::from_utf8(&bytes[start..end])
        .with_context(|| format!("{}: .npy header is not text", path.display()))?;
    let field = |key: &str| -> Result<&str> {
        let k = format!("'{key}':");
        let at = text
            .find(&k)
            .with_context(|| format!("{}: .npy header has no '{key}'", path.display()))?;
        Ok(text[at + k.len()..].trim_start())
    };
    let descr = {
        let rest = field("descr")?;
        let rest = rest.strip_prefix('\'').context("bad descr")?;
        rest[..rest.find('\'').context("bad descr")?].to_string()
    };
    let fortran_order = field("fortran_order")?.starts_with("True");
    let shape = {
        let rest = field("shape")?;
        let inner = &rest[1..rest.find(')').context("bad shape")?];
        inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .with_context(|| format!("{}: bad shape in .npy header", path.display()))?
    };
    Ok((
        Header {
            descr,
            fortran_order,
            shape,
        },
        end,
    ))
}

/// Writes a whole array atomically.
pub fn write<T: Element>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        bail!(
            "internal error writing {}: shape {shape:?} needs {expected} values, got {}",
            path.display(),
            data.len()
        );
    }
    crate::atomic::write_atomic(path, |w| {
        w.write_all(&encode_header(T::DESCR, shape))?;
        w.write_all(bytemuck::cast_slice(data))?;
        Ok(())
    })
}

/// Reads a whole (small) array into memory, checking its dtype.
pub fn read<T: Element>(path: &Path) -> Result<(Vec<usize>, Vec<T>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (header, offset) = parse_header(&bytes, path)?;
    let data = checked_data::<T>(&header, &bytes[offset..], path)?;
    Ok((header.shape, data.to_vec()))
}

fn checked_data<'a, T: Element>(header: &Header, data: &'a [u8], path: &Path) -> Result<&'a [T]> {
    if header.descr != T::DESCR {
        bail!(
            "{} holds {} values, expected {} (convert with numpy: a.astype(...))",
            path.display(),
            header.descr,
            T::DESCR
        );
    }
    if header.fortran_order {
        bail!(
            "{} is in Fortran order; save it with np.ascontiguousarray",
            path.display()
        );
    }
    let need = header.len() * std::mem::size_of::<T>();
    if data.len() < need {
        bail!(
            "{} is truncated: shape {:?} needs {need} bytes of data, the file has {}",
            path.display(),
            header.shape,
            data.len()
        );
    }
    bytemuck::try_cast_slice(&data[..need])
        .map_err(|e| anyhow::anyhow!("{}: misaligned .npy data ({e})", path.display()))
}

/// A memory-mapped f32 `.npy` array: the whole file is not read, pages come in on demand.
pub struct NpyF32 {
    path: PathBuf,
    map: Mmap,
    offset: usize,
    shape: Vec<usize>,
}

impl NpyF32 {
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: lvmkit only maps files it treats as read-only; a concurrent writer would
        // replace the file by rename (see `write_atomic`), never modify it in place.
        let map = unsafe { Mmap::map(&file) }
            .with_context(|| format!("cannot memory-map {}", path.display()))?;
        let (header, offset) = parse_header(&map, path)?;
        checked_data::<f32>(&header, &map[offset..], path)?;
        Ok(Self {
            path: path.to_path_buf(),
            map,
            offset,
            shape: header.shape,
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All values, row-major.
    pub fn data(&self) -> &[f32] {
        let n: usize = self.shape.iter().product();
        bytemuck::cast_slice(&self.map[self.offset..self.offset + n * 4])
    }

    /// Rows of a 2-D array.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Row length of a 2-D array.
    pub fn cols(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(1)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.cols();
        &self.data()[i * d..(i + 1) * d]
    }
}

/// Streams an N×D f32 array to disk without holding it all in memory. N must be known up
/// front (it is in the header); `finish` checks that exactly N rows were written.
pub struct NpyWriter {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    out: std::io::BufWriter<std::fs::File>,
    rows: usize,
    cols: usize,
    written: usize,
}

impl NpyWriter {
    pub fn create(path: &Path, rows: usize, cols: usize) -> Result<Self> {
        crate::atomic::check_output_file(path)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.reopen()?);
        out.write_all(&encode_header(f32::DESCR, &[rows, cols]))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            out,
            rows,
            cols,
            written: 0,
        })
    }

    pub fn write_row(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.cols {
            bail!(
                "{}: row of {} values, expected {}",
                self.path.display(),
                row.len(),
                self.cols
            );
        }
        self.out.write_all(bytemuck::cast_slice(row))?;
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        if self.written != self.rows {
            bail!(
                "internal error: {} declared {} rows, {} written",
                self.path.display(),
                self.rows,
                self.written
            );
        }
        self.out.flush()?;
        crate::atomic::make_public(self.out.get_ref())?;
        self.out.get_ref().sync_all()?;
        drop(self.out);
        crate::atomic::persist(self.tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_through_the_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        write(&path, &[3, 4], &data).unwrap();
        let m = NpyF32::open(&path).unwrap();
        assert_eq!(m.shape(), &[3, 4]);
        assert_eq!(m.row(2), &data[8..12]);
        let (shape, ids) = {
            write(&dir.path().join("i.npy"), &[3], &[1i64, 5, 9]).unwrap();
            read::<i64>(&dir.path().join("i.npy")).unwrap()
        };
        assert_eq!((shape, ids), (vec![3], vec![1, 5, 9]));
    }

    #[test]
    fn header_is_what_numpy_writes() {
        let h = encode_header("<f4", &[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"));
        assert!(std::str::from_utf8(&encode_header("<i8", &[7])[10..])
            .unwrap()
            .contains("(7,)"));
    }

    #[test]
    fn truncated_and_wrong_dtype_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        write(&path, &[4, 4], &[0f32; 16]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
        let err = NpyF32::open(&path).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
        write(&path, &[2], &[1i64, 2]).unwrap();
        let err = NpyF32::open(&path).err().unwrap().to_string();
        assert!(err.contains("<i8"), "{err}");
    }

    #[test]
    fn streamed_writer_checks_row_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npy");
        let mut w = NpyWriter::create(&path, 2, 3).unwrap();
        w.write_row(&[1.0, 2.0, 3.0]).unwrap();
        assert!(w.write_row(&[1.0]).is_err());
        w.write_row(&[4.0, 5.0, 6.0]).unwrap();
        w.finish().unwrap();
        assert_eq!(
            NpyF32::open(&path).unwrap().data(),
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }
}

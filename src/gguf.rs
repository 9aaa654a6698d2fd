//! GGUF v3: a bounds-checked reader over a byte slice, a writer, and the tensor types (their block
//! formats are in `crate::quants`).
//!
//! The reader never allocates from a count it has not checked against the bytes actually present,
//! so a corrupt or hostile header fails with a message instead of a giant allocation. Sizes and
//! offsets are computed in u64 with checked arithmetic and only then narrowed to `usize`, which is
//! 32 bits in wasm: a length that wraps there would pass a bounds check and abort later.
//! Shapes are kept in ggml order (`dims[0]` is the contiguous dimension).

use crate::{bail, Error, Result};

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const VERSION: u32 = 3;
pub const DEFAULT_ALIGNMENT: usize = 32;
/// Largest tensor we accept (elements): far above GPT-2 1.5B's biggest matrix, far below a 32-bit address space.
const MAX_TENSOR_ELEMENTS: u64 = 1 << 31;
/// Most metadata array elements in one header, all arrays together. A real tokenizer (256k tokens,
/// their types and merges) needs under a million; each element costs 32 bytes in memory, so a
/// header of hundreds of millions of one-byte elements would exhaust a browser's memory.
pub const MAX_ARRAY_ELEMENTS: u64 = 1 << 22;

// ---------------------------------------------------------------------------------------------
// Tensor types

/// The ggml tensor types this engine reads and writes: every type llama.cpp's quantizer
/// (`llama-quantize`) writes for a GPT-2 apart from the IQ types. Their block formats are in
/// `crate::quants`, one file each.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
}

/// ggml's names of the type ids we do not read, so that a refusal can say which type it was.
const UNSUPPORTED: [(u32, &str); 29] = [
    (4, "Q4_2"),
    (5, "Q4_3"),
    (9, "Q8_1"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (31, "Q4_0_4_4"),
    (32, "Q4_0_4_8"),
    (33, "Q4_0_8_8"),
    (34, "TQ1_0"),
    (35, "TQ2_0"),
    (36, "IQ4_NL_4_4"),
    (37, "IQ4_NL_4_8"),
    (38, "IQ4_NL_8_8"),
    (39, "MXFP4"),
    (40, "NVFP4"),
    (41, "Q1_0"),
];

impl DType {
    /// Every supported type, floats first, then the legacy 32-value blocks, then the K-quants.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
    ];

    /// "F32, F16, ..., Q6_K": for messages.
    pub fn supported_list() -> String {
        Self::ALL.map(DType::name).join(", ")
    }

    pub fn from_id(id: u32, tensor: &str) -> Result<Self> {
        if let Some(t) = Self::ALL.into_iter().find(|t| t.id() == id) {
            return Ok(t);
        }
        match UNSUPPORTED.iter().find(|(i, _)| *i == id) {
            Some((_, name)) => bail!(
                "tensor {tensor} has ggml type {id} ({name}), which this engine does not support (supported: {})",
                Self::supported_list()
            ),
            None => bail!("tensor {tensor} has unknown ggml type id {id}"),
        }
    }
    /// ggml's `ggml_type` id.
    pub fn id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q5_0 => 6,
            DType::Q5_1 => 7,
            DType::Q8_0 => 8,
            DType::Q2_K => 10,
            DType::Q3_K => 11,
            DType::Q4_K => 12,
            DType::Q5_K => 13,
            DType::Q6_K => 14,
            DType::BF16 => 30,
        }
    }
    /// `general.file_type` (llama.cpp's `llama_ftype`) for a file whose matrices have this type;
    /// for Q3_K, Q4_K and Q5_K the number of the `_S` recipe, which uses the type throughout.
    pub fn file_type(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q8_0 => 7,
            DType::Q5_0 => 8,
            DType::Q5_1 => 9,
            DType::Q2_K => 10,
            DType::Q3_K => 11,
            DType::Q4_K => 14,
            DType::Q5_K => 16,
            DType::Q6_K => 18,
            DType::BF16 => 32,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
            DType::Q5_0 => "Q5_0",
            DType::Q5_1 => "Q5_1",
            DType::Q2_K => "Q2_K",
            DType::Q3_K => "Q3_K",
            DType::Q4_K => "Q4_K",
            DType::Q5_K => "Q5_K",
            DType::Q6_K => "Q6_K",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        let upper = s.to_ascii_uppercase();
        match Self::ALL.into_iter().find(|t| t.name() == upper) {
            Some(t) => Ok(t),
            None => bail!("unknown tensor type {s:?} (use one of {})", Self::supported_list()),
        }
    }
    /// Elements per block.
    pub fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 => crate::quants::QK,
            DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K => crate::quants::QK_K,
        }
    }
    /// Bytes per block (each format's layout is in its file under `src/quants/`).
    pub fn block_bytes(self) -> usize {
        crate::quants::block_bytes(self)
    }
    /// Blocks of several values with scales, as opposed to one float per element.
    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }
    /// Bytes taken by `n` elements (`n` must be a multiple of the block length), in u64 so that it
    /// cannot wrap on a 32-bit target.
    pub fn bytes_for(self, n: u64) -> u64 {
        n / self.block_len() as u64 * self.block_bytes() as u64
    }
}

/// Every format's encoder and decoder (one file per format in `src/quants/`).
pub use crate::quants::{dequantize, quantize};

// ---------------------------------------------------------------------------------------------
// Metadata values

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }
    /// Any integer value that fits a u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reader

/// A tensor's place in the file.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is contiguous
    pub dims: Vec<usize>,
    pub dtype: DType,
    /// absolute byte range in the file
    pub start: usize,
    pub len: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header; tensor data stays in the caller's bytes.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
}

/// Checks the first bytes of a download: fails at once on an HTML page or another format.
pub fn check_prefix(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 4 {
        bail!("file too short to be GGUF ({} bytes)", bytes.len());
    }
    if &bytes[..4] != MAGIC {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).to_lowercase();
        if start.trim_start().starts_with('<') {
            bail!("not a GGUF file: it starts like an HTML page (a wrong URL or a server error page?)");
        }
        bail!("not a GGUF file: wrong magic {:02x?} (expected \"GGUF\")", &bytes[..4]);
    }
    if bytes.len() >= 8 {
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if !(2..=3).contains(&version) {
            bail!("unsupported GGUF version {version} (this engine reads versions 2 and 3)");
        }
    }
    Ok(())
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// metadata array elements read so far (bounded by `MAX_ARRAY_ELEMENTS`)
    array_elements: u64,
    /// set when a read ran past the end of `bytes`
    short: &'a mut bool,
    /// the whole file's length (`bytes` may be its first part only)
    file_len: u64,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            *self.short = true;
            bail!("truncated GGUF header: {what} needs {n} bytes at offset {} but the file has {} bytes", self.pos, self.bytes.len());
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    }
    /// A count of items each at least `min_item` bytes long, checked against the bytes left.
    fn count(&mut self, min_item: usize, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        let need = (n as u128) * (min_item as u128);
        if need > self.remaining() as u128 {
            // beyond what has arrived but not beyond the file: wait for more
            let in_file = self.file_len.saturating_sub(self.pos as u64);
            if need <= in_file as u128 {
                *self.short = true;
            }
            bail!("truncated or corrupt GGUF header: {what} is {n}, which cannot fit in the {} bytes left", in_file.min(self.remaining() as u64));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(1, what)?;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error(format!("corrupt GGUF header: {what} is not valid UTF-8")))
    }
    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8(key)?),
            1 => Value::I8(self.u8(key)? as i8),
            2 => Value::U16(u16::from_le_bytes(self.take(2, key)?.try_into().unwrap())),
            3 => Value::I16(i16::from_le_bytes(self.take(2, key)?.try_into().unwrap())),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(self.u32(key)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(key)?)),
            7 => Value::Bool(self.u8(key)? != 0),
            8 => Value::String(self.string(key)?),
            9 => {
                if depth > 2 {
                    bail!("corrupt GGUF header: arrays nested too deeply in {key}");
                }
                let elem = self.u32(key)?;
                let min = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4 | 5 | 6 => 4,
                    8 | 9 | 10 | 11 | 12 => 8,
                    _ => bail!("corrupt GGUF header: array {key} has unknown element type {elem}"),
                };
                let n = self.count(min, &format!("length of array {key}"))?;
                self.array_elements = self.array_elements.saturating_add(n as u64);
                if self.array_elements > MAX_ARRAY_ELEMENTS {
                    bail!("corrupt or hostile GGUF header: array {key} has {n} elements, beyond the {MAX_ARRAY_ELEMENTS} metadata array elements this engine reads in all");
                }
                let mut items = crate::try_vec(n, &format!("the {n} elements of array {key}"))?;
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(self.u64(key)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(key)?)),
            _ => bail!("corrupt GGUF header: metadata {key} has unknown value type {ty}"),
        })
    }
}

impl Gguf {
    /// Parses the header of a whole file and checks that every tensor lies inside it.
    pub fn parse(bytes: &[u8]) -> Result<Gguf> {
        Self::parse_within(bytes, bytes.len() as u64, &mut false).map(|(g, _)| g)
    }

    /// Parses the header from the first bytes of a file of `file_len` bytes (a download under
    /// way): `Ok(None)` while the header runs past `prefix`. Returns the header and where the
    /// tensor data starts.
    pub fn parse_prefix(prefix: &[u8], file_len: u64) -> Result<Option<(Gguf, u64)>> {
        let mut short = false;
        match Self::parse_within(prefix, file_len, &mut short) {
            Ok(g) => Ok(Some(g)),
            Err(_) if short && (prefix.len() as u64) < file_len => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `short` is set when the header runs past `bytes`.
    fn parse_within(bytes: &[u8], file_len: u64, short: &mut bool) -> Result<(Gguf, u64)> {
        if bytes.len() < 4 && (bytes.len() as u64) < file_len {
            *short = true;
        }
        check_prefix(bytes)?;
        let mut c = Cursor { bytes, pos: 4, array_elements: 0, short, file_len };
        let version = c.u32("version")?;
        // smallest tensor info: name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8)
        let n_tensors = c.count(32, "tensor count")?;
        // smallest key/value: key length (8) + type (4) + one byte
        let n_kv = c.count(13, "metadata count")?;
        let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_kv);
        let mut keys = std::collections::HashSet::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            // llama.cpp refuses a file whose header defines a key twice
            if !keys.insert(key.clone()) {
                bail!("corrupt GGUF header: metadata key {key:?} is defined twice");
            }
            let ty = c.u32(&key)?;
            let value = c.value(ty, &key, 0)?;
            metadata.push((key, value));
        }
        let mut raw = Vec::with_capacity(n_tensors);
        let mut names = std::collections::HashSet::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            if !names.insert(name.clone()) {
                bail!("corrupt GGUF header: tensor {name:?} is defined twice");
            }
            let n_dims = c.u32(&name)?;
            if n_dims == 0 || n_dims > 4 {
                bail!("corrupt GGUF header: tensor {name} has {n_dims} dimensions (1 to 4 allowed)");
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            let mut elements: u64 = 1;
            for _ in 0..n_dims {
                let d = c.u64(&name)?;
                elements = elements.saturating_mul(d);
                dims.push(d);
            }
            if elements == 0 || elements > MAX_TENSOR_ELEMENTS {
                bail!("corrupt GGUF header: tensor {name} has absurd dimensions {dims:?}");
            }
            let dtype = DType::from_id(c.u32(&name)?, &name)?;
            let offset = c.u64(&name)?;
            if dims[0] % dtype.block_len() as u64 != 0 {
                bail!("tensor {name}: first dimension {} is not a multiple of the {} block length {}", dims[0], dtype.name(), dtype.block_len());
            }
            // each dimension and the product are at most MAX_TENSOR_ELEMENTS (2^31): they fit usize
            let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
            raw.push((name, dims, dtype, offset, elements));
        }
        let gguf = Gguf { version, metadata, tensors: Vec::new() };
        let alignment = match gguf.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a as usize,
                _ => bail!("corrupt GGUF header: general.alignment {v:?} is not a power of two"),
            },
        };
        let data_start = (c.pos as u64).div_ceil(alignment as u64) * alignment as u64;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, dims, dtype, offset, elements) in raw {
            if offset % alignment as u64 != 0 {
                bail!("corrupt GGUF header: tensor {name} starts at offset {offset}, not a multiple of the alignment {alignment}");
            }
            let len = dtype.bytes_for(elements);
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(len));
            let (Some(start), Some(end)) = (start, end) else {
                bail!("corrupt GGUF header: tensor {name} has offset {offset}, beyond any file");
            };
            if end > file_len {
                bail!("truncated file: tensor {name} needs bytes {start}..{end} but the file has {file_len} bytes");
            }
            // both within the file, so within usize
            tensors.push(TensorInfo { name, dims, dtype, start: start as usize, len: len as usize });
        }
        // no byte belongs to two tensors (a streamed load copies each tensor out once)
        let mut by_start: Vec<&TensorInfo> = tensors.iter().collect();
        by_start.sort_by_key(|t| t.start);
        for w in by_start.windows(2) {
            if w[0].start + w[0].len > w[1].start {
                bail!("corrupt GGUF header: tensors {} and {} overlap in the file", w[0].name, w[1].name);
            }
        }
        Ok((Gguf { tensors, ..gguf }, data_start))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        match self.get(key) {
            None => bail!("missing metadata {key}"),
            Some(v) => v.as_u64().ok_or_else(|| Error(format!("metadata {key} should be an unsigned integer, found {v:?}"))),
        }
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.get(key) {
            None => bail!("missing metadata {key}"),
            Some(v) => v.as_str().ok_or_else(|| Error(format!("metadata {key} should be a string"))),
        }
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// A GGUF file arriving in pieces (a download, a file read as a stream): the header is kept
/// until it parses, then each tensor's bytes are copied into a buffer of its own as they arrive,
/// so that the whole file is never held twice; padding between tensors is dropped.
pub struct Incoming {
    file_len: u64,
    received: u64,
    /// the first bytes, until the header parses
    head: Vec<u8>,
    header: Option<Gguf>,
    /// per tensor of `header` (in its order): bytes so far
    parts: Vec<Vec<u8>>,
    /// tensor indices by start offset
    order: Vec<usize>,
    /// the first entry of `order` not yet complete
    next: usize,
    /// the header is parsed again once `head` has this many bytes (doubling: a header of
    /// megabytes, GPT-2's vocabulary, is not re-read for every small chunk)
    retry_at: usize,
}

impl Incoming {
    /// For a file of `file_len` bytes (its size is known before it arrives: a Content-Length, a
    /// `File`'s size).
    pub fn new(file_len: u64) -> Self {
        Incoming { file_len, received: 0, head: Vec::new(), header: None, parts: Vec::new(), order: Vec::new(), next: 0, retry_at: 0 }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// The header, once it has arrived.
    pub fn header(&self) -> Option<&Gguf> {
        self.header.as_ref()
    }

    /// Takes the next piece of the file. Fails on more bytes than announced, on a header that
    /// does not parse, or when memory for a tensor cannot be had.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<()> {
        if self.received + chunk.len() as u64 > self.file_len {
            bail!("the file is longer than the {} bytes announced", self.file_len);
        }
        let at = self.received;
        self.received += chunk.len() as u64;
        if self.header.is_none() {
            self.head.try_reserve(chunk.len()).map_err(|_| Error("out of memory for the file's header".into()))?;
            self.head.extend_from_slice(chunk);
            if self.head.len() < self.retry_at && self.received < self.file_len {
                return Ok(());
            }
            let Some((g, _)) = Gguf::parse_prefix(&self.head, self.file_len)? else {
                self.retry_at = self.head.len() * 2;
                return Ok(());
            };
            let mut parts = Vec::with_capacity(g.tensors.len());
            for t in &g.tensors {
                parts.push(crate::try_vec(t.len, &format!("tensor {}", t.name))?);
            }
            self.order = (0..g.tensors.len()).collect();
            self.order.sort_by_key(|&i| g.tensors[i].start);
            self.parts = parts;
            self.header = Some(g);
            // the header's bytes may already hold tensor data: feed them through again
            let head = std::mem::take(&mut self.head);
            self.received = 0;
            return self.push(&head).and_then(|_| {
                self.received = at + chunk.len() as u64;
                Ok(())
            });
        }
        let g = self.header.as_ref().expect("parsed above");
        let mut pos = at;
        while !chunk.is_empty() && self.next < self.order.len() {
            let i = self.order[self.next];
            let t = &g.tensors[i];
            let have = self.parts[i].len() as u64;
            let want = t.start as u64 + have; // the next byte this tensor needs
            if pos < want {
                // padding, or bytes before the tensor: skipped
                let skip = (want - pos).min(chunk.len() as u64) as usize;
                chunk = &chunk[skip..];
                pos += skip as u64;
                continue;
            }
            let take = (t.len - have as usize).min(chunk.len());
            self.parts[i].extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            pos += take as u64;
            if self.parts[i].len() == t.len {
                self.next += 1;
            }
        }
        Ok(())
    }

    /// The header and each tensor's bytes (in the header's order), once the whole file arrived.
    pub fn finish(self) -> Result<(Gguf, Vec<Vec<u8>>)> {
        if self.received != self.file_len {
            bail!("truncated file: {} of {} bytes arrived", self.received, self.file_len);
        }
        let Some(g) = self.header else {
            // the whole file and still no header: parse it once more for the error
            return Err(Gguf::parse(&self.head).err().unwrap_or_else(|| Error("the GGUF header did not parse".into())));
        };
        Ok((g, self.parts))
    }
}

// ---------------------------------------------------------------------------------------------
// Writer

/// Builds a GGUF file in memory: metadata in insertion order, tensors aligned to 32 bytes.
#[derive(Default)]
pub struct Writer {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<usize>, DType, Vec<u8>)>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn meta(&mut self, key: &str, value: Value) -> &mut Self {
        self.metadata.retain(|(k, _)| k != key);
        self.metadata.push((key.to_string(), value));
        self
    }
    /// Adds a tensor from f32 values; `dims` in ggml order.
    pub fn tensor(&mut self, name: &str, dims: &[usize], dtype: DType, values: &[f32]) -> Result<&mut Self> {
        if dims.iter().product::<usize>() != values.len() {
            bail!("tensor {name}: dims {dims:?} do not match {} values", values.len());
        }
        // blocks never straddle rows: a row must be whole blocks, as the reader requires
        if dims.first().is_some_and(|d| d % dtype.block_len() != 0) {
            bail!("tensor {name}: first dimension {} is not a multiple of the {} block length {}", dims[0], dtype.name(), dtype.block_len());
        }
        let bytes = quantize(values, dtype).map_err(|e| Error(format!("tensor {name}: {e}")))?;
        self.tensors.push((name.to_string(), dims.to_vec(), dtype, bytes));
        Ok(self)
    }

    /// Adds a tensor from blocks already in `dtype`'s form (a loaded file's, kept as they are).
    pub fn blocks(&mut self, name: &str, dims: &[usize], dtype: DType, bytes: Vec<u8>) -> Result<&mut Self> {
        let n = dims.iter().product::<usize>() as u64;
        if dtype.bytes_for(n) != bytes.len() as u64 || dims.first().is_some_and(|d| d % dtype.block_len() != 0) {
            bail!("tensor {name}: {} bytes are not whole rows of {n} {} values", bytes.len(), dtype.name());
        }
        self.tensors.push((name.to_string(), dims.to_vec(), dtype, bytes));
        Ok(self)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let align = |n: usize| n.div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        let mut offset = 0usize;
        let infos: Vec<TensorHeader> = self
            .tensors
            .iter()
            .map(|(name, dims, dtype, bytes)| {
                let info = (name.as_str(), dims.iter().map(|&d| d as u64).collect(), dtype.id(), offset as u64);
                offset = align(offset + bytes.len());
                info
            })
            .collect();
        let mut out = Vec::new();
        write_header(&mut out, VERSION, &self.metadata, &infos);
        out.resize(align(out.len()), 0);
        for (_, _, _, bytes) in &self.tensors {
            out.extend_from_slice(bytes);
            out.resize(align(out.len()), 0);
        }
        out
    }
}

/// A tensor's entry in the header: name, dims (ggml order), ggml type id, offset in the data section.
pub(crate) type TensorHeader<'a> = (&'a str, Vec<u64>, u32, u64);

/// The header as GGUF lays it out (magic, version, counts, key/values, tensor entries), written as
/// given: nothing is checked, so the hostile files (`crate::hostile`) are written through it too.
pub(crate) fn write_header(out: &mut Vec<u8>, version: u32, metadata: &[(String, Value)], tensors: &[TensorHeader]) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        write_string(out, k);
        out.extend_from_slice(&v.type_id().to_le_bytes());
        write_value(out, v);
    }
    for (name, dims, ty, offset) in tensors {
        write_string(out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            let elem = items.first().map_or(4, Value::type_id);
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| write_value(out, i));
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_round_trip_error_is_bounded() {
        let v: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        for (dtype, tol) in [(DType::F32, 0.0), (DType::F16, 2e-3), (DType::Q8_0, 0.03), (DType::Q4_0, 0.4)] {
            let mut back = Vec::new();
            dequantize(&quantize(&v, dtype).unwrap(), dtype, &mut back);
            let err = v.iter().zip(&back).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= tol, "{dtype:?}: max error {err}");
        }
    }
}

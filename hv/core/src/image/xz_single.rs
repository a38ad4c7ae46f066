//! Single-call XZ decoding: the output buffer is the LZMA2 dictionary, as in Linux's and
//! Xen's own decompressors (xz-embedded's `XZ_SINGLE` mode). A bzImage payload is decoded
//! once, whole, into memory of its stated size, so no separate dictionary and no second copy
//! are needed; under emulation that is the difference between ~6 s and ~4 s for Debian's
//! kernel (Xen 4.17's loader vs `xz4rust`, same QEMU run).
//!
//! ```text
//!  stream header (CRC32) ─► block header (CRC32): [x86 BCJ] + LZMA2 ─► LZMA2 chunks into out
//!     ─► BCJ over the block, in place ─► block check (none or CRC32)
//!     ─► index (one record, sizes agree, CRC32) ─► footer (CRC32, flags, backward size)
//! ```
//!
//! Only what Linux's `scripts/xz_wrap.sh` emits is decoded here (one stream, one block, check
//! none or CRC32, filters `x86` + `lzma2` or `lzma2` alone); anything else is
//! [`Single::Unsupported`] and the caller uses the general streaming decoder instead. Every
//! index into the input or output is checked: corrupt data gives an error, never a panic.

use alloc::boxed::Box;

use super::decompress::DecompressError;

/// Why the single-call decoder stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Single {
    /// The stream uses something this decoder leaves to the general one.
    Unsupported,
    /// A real error.
    Failed(DecompressError),
}

impl From<DecompressError> for Single {
    fn from(e: DecompressError) -> Self {
        Single::Failed(e)
    }
}

type R<T> = Result<T, Single>;

fn corrupt(what: &'static str) -> Single {
    Single::Failed(DecompressError::Corrupt(what))
}

const END: Single = Single::Failed(DecompressError::UnexpectedEnd);
const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
const CHECK_NONE: u8 = 0;
const CHECK_CRC32: u8 = 1;
const FILTER_X86: u64 = 0x04;
const FILTER_LZMA2: u64 = 0x21;

/// Decodes the XZ `stream` (without the bzImage size trailer) into `out`; returns the bytes
/// written. `out` must be exactly as long as the stated size: a stream that would write more
/// is [`DecompressError::LargerThanStated`].
pub fn decode(stream: &[u8], out: &mut [u8]) -> R<usize> {
    let header = stream.get(..12).ok_or(END)?;
    if header[..6] != MAGIC {
        return Err(corrupt("bad XZ stream header"));
    }
    let flags = [header[6], header[7]];
    if crc32fast::hash(&flags) != le32(&header[8..12]) {
        return Err(corrupt("bad XZ stream header"));
    }
    if flags[0] != 0 || flags[1] & 0xf0 != 0 {
        return Err(corrupt("bad XZ stream header"));
    }
    let check = flags[1];
    if check != CHECK_NONE && check != CHECK_CRC32 {
        return Err(Single::Unsupported);
    }
    let check_len = if check == CHECK_CRC32 { 4 } else { 0 };
    let mut at = 12;
    // Block header.
    let size_byte = *stream.get(at).ok_or(END)?;
    if size_byte == 0 {
        return Err(Single::Unsupported); // no block: an empty stream
    }
    let header_len = (usize::from(size_byte) + 1) * 4;
    let bh = stream.get(at..at + header_len).ok_or(END)?;
    if crc32fast::hash(&bh[..header_len - 4]) != le32(&bh[header_len - 4..]) {
        return Err(corrupt("bad XZ block header"));
    }
    let bflags = bh[1];
    if bflags & 0x3c != 0 {
        return Err(Single::Unsupported);
    }
    let mut p = 2;
    let body = &bh[..header_len - 4];
    let compressed_size = match bflags & 0x40 {
        0 => None,
        _ => Some(vli(body, &mut p)?),
    };
    let uncompressed_size = match bflags & 0x80 {
        0 => None,
        _ => Some(vli(body, &mut p)?),
    };
    let filters = usize::from(bflags & 3) + 1;
    let mut bcj_x86 = false;
    let mut lzma2_prop = None;
    for i in 0..filters {
        let id = vli(body, &mut p)?;
        let props_len = vli(body, &mut p)? as usize;
        let props = body
            .get(p..p.checked_add(props_len).ok_or(END)?)
            .ok_or_else(|| corrupt("bad XZ block header"))?;
        p += props_len;
        match (id, i + 1 == filters) {
            (FILTER_X86, false) if props_len == 0 && !bcj_x86 => bcj_x86 = true,
            (FILTER_LZMA2, true) if props_len == 1 => lzma2_prop = Some(props[0]),
            _ => return Err(Single::Unsupported),
        }
    }
    if body[p..].iter().any(|&b| b != 0) {
        return Err(corrupt("bad XZ block header"));
    }
    if lzma2_prop.ok_or(Single::Unsupported)? > 40 {
        return Err(corrupt("bad XZ block header"));
    }
    at += header_len;
    // The LZMA2 data.
    let data_start = at;
    let written = lzma2(stream, &mut at, out)?;
    let data_len = (at - data_start) as u64;
    if compressed_size.is_some_and(|c| c != data_len)
        || uncompressed_size.is_some_and(|u| u != written as u64)
    {
        return Err(corrupt("bad XZ/LZMA2 data"));
    }
    // Block padding, then the check of the filtered (final) bytes.
    while !at.is_multiple_of(4) {
        if *stream.get(at).ok_or(END)? != 0 {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        at += 1;
    }
    if bcj_x86 {
        x86_decode(&mut out[..written]);
    }
    if check == CHECK_CRC32 {
        let stored = stream.get(at..at + 4).ok_or(END)?;
        if super::crc32::hash(&out[..written]) != le32(stored) {
            return Err(corrupt("XZ content CRC32 mismatch"));
        }
    }
    at += check_len;
    let unpadded = (header_len as u64) + data_len + check_len as u64;
    index_and_footer(stream, at, unpadded, written as u64, flags)?;
    Ok(written)
}

/// The index (one record matching the block) and the stream footer.
fn index_and_footer(
    stream: &[u8],
    start: usize,
    unpadded: u64,
    size: u64,
    flags: [u8; 2],
) -> R<()> {
    let bad = || corrupt("bad XZ index or footer");
    let mut p = start;
    if *stream.get(p).ok_or(END)? != 0 {
        return Err(Single::Unsupported); // a second block
    }
    p += 1;
    if vli(stream, &mut p)? != 1 || vli(stream, &mut p)? != unpadded || vli(stream, &mut p)? != size
    {
        return Err(bad());
    }
    while !(p - start).is_multiple_of(4) {
        if *stream.get(p).ok_or(END)? != 0 {
            return Err(bad());
        }
        p += 1;
    }
    let crc = stream.get(p..p + 4).ok_or(END)?;
    if crc32fast::hash(&stream[start..p]) != le32(crc) {
        return Err(bad());
    }
    p += 4;
    let index_len = p - start;
    let footer = stream.get(p..p + 12).ok_or(END)?;
    if crc32fast::hash(&footer[4..10]) != le32(&footer[..4])
        || footer[8..10] != flags
        || footer[10..12] != *b"YZ"
        || (u64::from(le32(&footer[4..8])) + 1) * 4 != index_len as u64
    {
        return Err(bad());
    }
    // Stream padding only (Linux appends none).
    let rest = &stream[p + 12..];
    if !rest.len().is_multiple_of(4) || rest.iter().any(|&b| b != 0) {
        return Err(Single::Unsupported);
    }
    Ok(())
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// An XZ variable-length integer (at most 9 bytes, below 2^63).
fn vli(buf: &[u8], p: &mut usize) -> R<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let b = *buf.get(*p).ok_or(END)?;
        *p += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(corrupt("bad XZ variable-length integer"));
            }
            return Ok(value);
        }
    }
    Err(corrupt("bad XZ variable-length integer"))
}

// ---- LZMA2 -------------------------------------------------------------------------------

/// Decodes LZMA2 chunks from `stream[*at..]` into `out` until the end marker; `*at` ends
/// past it. Returns the bytes written.
fn lzma2(stream: &[u8], at: &mut usize, out: &mut [u8]) -> R<usize> {
    let mut lz = Box::new(Lzma::new());
    let mut pos = 0usize;
    let mut dict_start = 0usize;
    let (mut need_dict_reset, mut need_props) = (true, true);
    loop {
        let control = *stream.get(*at).ok_or(END)?;
        *at += 1;
        if control == 0 {
            return Ok(pos);
        }
        if control < 0x80 {
            // Uncompressed chunk: 1 resets the dictionary, 2 does not.
            if control > 2 || (control == 2 && need_dict_reset) {
                return Err(corrupt("bad XZ/LZMA2 data"));
            }
            if control == 1 {
                dict_start = pos;
                need_dict_reset = false;
                need_props = true;
            }
            let size = usize::from(be16(stream, *at)?) + 1;
            *at += 2;
            let src = stream.get(*at..*at + size).ok_or(END)?;
            let dst = out
                .get_mut(pos..pos + size)
                .ok_or(Single::Failed(DecompressError::LargerThanStated))?;
            dst.copy_from_slice(src);
            *at += size;
            pos += size;
            continue;
        }
        let reset = (control >> 5) & 3;
        if reset == 3 {
            dict_start = pos;
            need_dict_reset = false;
        } else if need_dict_reset {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        let unpacked = ((usize::from(control & 0x1f) << 16) | usize::from(be16(stream, *at)?)) + 1;
        let packed = usize::from(be16(stream, *at + 2)?) + 1;
        *at += 4;
        if reset >= 2 {
            let props = *stream.get(*at).ok_or(END)?;
            *at += 1;
            lz.set_props(props)?;
            need_props = false;
        } else if need_props {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        if reset >= 1 {
            lz.reset_state();
        }
        let input = stream.get(*at..*at + packed).ok_or(END)?;
        let end = pos
            .checked_add(unpacked)
            .filter(|&e| e <= out.len())
            .ok_or(Single::Failed(DecompressError::LargerThanStated))?;
        lz.chunk(input, out, pos..end, dict_start)?;
        *at += packed;
        pos = end;
    }
}

fn be16(stream: &[u8], at: usize) -> R<u16> {
    let b = stream.get(at..at + 2).ok_or(END)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

// The probabilities live in one flat array, each group at a constant offset and sized so
// that every index is a constant plus a term the compiler can bound (a tree node, or a
// value masked to the group's size): the hot loop indexes them with no bounds-check branch
// (under emulation every branch ends a translated block). States (12) and position states
// (at most 16) get 16 slots each.
const STATE_SLOTS: usize = 16;
const POS_STATES: usize = 16;
const LIT_STATES: usize = 7;
const END_POS_MODEL: usize = 14;
const FULL_DISTANCES: usize = 128;
const ALIGN_BITS: usize = 4;
const PROB_INIT: u16 = 1 << 10;

// A length coder: choice, choice2, low [pos_state][8], mid [pos_state][8], high [256].
const LEN_CHOICE: usize = 0;
const LEN_CHOICE2: usize = 1;
const LEN_LOW: usize = 2;
const LEN_MID: usize = LEN_LOW + POS_STATES * 8;
const LEN_HIGH: usize = LEN_MID + POS_STATES * 8;
const LEN_PROBS: usize = LEN_HIGH + 256;

const IS_MATCH: usize = 0; // [state][pos_state]
const IS_REP: usize = IS_MATCH + STATE_SLOTS * POS_STATES; // [state]
const IS_REP0: usize = IS_REP + STATE_SLOTS;
const IS_REP1: usize = IS_REP0 + STATE_SLOTS;
const IS_REP2: usize = IS_REP1 + STATE_SLOTS;
const IS_REP0_LONG: usize = IS_REP2 + STATE_SLOTS; // [state][pos_state]
const DIST_SLOT: usize = IS_REP0_LONG + STATE_SLOTS * POS_STATES; // [len_state][64]
const DIST_SPECIAL: usize = DIST_SLOT + 4 * 64; // 114 used of FULL_DISTANCES
const DIST_ALIGN: usize = DIST_SPECIAL + FULL_DISTANCES;
const MATCH_LEN: usize = DIST_ALIGN + (1 << ALIGN_BITS);
const REP_LEN: usize = MATCH_LEN + LEN_PROBS;
const LITERAL: usize = REP_LEN + LEN_PROBS; // [lc/lp context, at most 16][0x300]
const PROBS: usize = LITERAL + 16 * 0x300;

/// LZMA state carried across the chunks of one LZMA2 stream.
struct Lzma {
    lc: u32,
    lp_mask: usize,
    pb_mask: usize,
    state: usize,
    reps: [usize; 4],
    probs: [u16; PROBS],
}

impl Lzma {
    fn new() -> Self {
        Self {
            lc: 0,
            lp_mask: 0,
            pb_mask: 0,
            state: 0,
            reps: [0; 4],
            probs: [PROB_INIT; PROBS],
        }
    }

    /// lc/lp/pb from an LZMA2 properties byte (lc + lp at most 4).
    fn set_props(&mut self, props: u8) -> R<()> {
        let props = u32::from(props);
        if props >= 9 * 5 * 5 {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        let (lc, lp, pb) = (props % 9, (props / 9) % 5, props / 45);
        if lc + lp > 4 {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        self.lc = lc;
        self.lp_mask = (1 << lp) - 1;
        self.pb_mask = (1 << pb) - 1;
        Ok(())
    }

    fn reset_state(&mut self) {
        self.state = 0;
        self.reps = [0; 4];
        self.probs.fill(PROB_INIT);
    }

    /// Decodes one LZMA chunk from `input` into `out[range]` (to its end exactly); the
    /// dictionary is `out[dict_start..]`. Bytes of `out` past the range may be scribbled on
    /// (see [`copy_match`]); the chunks after this one write them again.
    ///
    /// One loop, one symbol per turn, with the coder's state in locals (registers): the
    /// `is_match` bit, then a literal (plain, or against the byte at rep0) or a match (new
    /// distance, short rep, rep0..rep3), as in every LZMA decoder.
    fn chunk(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        range: core::ops::Range<usize>,
        dict_start: usize,
    ) -> R<()> {
        // xz's (and so Linux's) properties, lc=3 lp=0 pb=2, as constants: three registers
        // fewer in the loop, so fewer values spilled to the stack (each a memory access,
        // which is what costs most under emulation).
        if (self.lc, self.lp_mask, self.pb_mask) == (3, 0, 3) {
            self.chunk_with::<true>(input, out, range, dict_start)
        } else {
            self.chunk_with::<false>(input, out, range, dict_start)
        }
    }

    /// [`Lzma::chunk`], with lc=3 lp=0 pb=2 as constants if `DEFAULT_PROPS` (each its own
    /// function, so the common one is compact). The hypervisor's linker script starts
    /// this section on a page boundary: under QEMU TCG a jump between translated blocks
    /// chains directly only within one guest page, and otherwise costs a lookup, so the
    /// hot loop should cross as few page boundaries as possible.
    #[inline(never)]
    #[cfg_attr(target_os = "none", link_section = ".text.xz_hot")]
    fn chunk_with<const DEFAULT_PROPS: bool>(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        range: core::ops::Range<usize>,
        dict_start: usize,
    ) -> R<()> {
        let bad = || corrupt("bad XZ/LZMA2 data");
        let mut rc = Rc::new(input)?;
        let (pos, end) = (range.start, range.end);
        if end > out.len() || pos < dict_start {
            return Err(Single::Failed(DecompressError::LargerThanStated));
        }
        // Positions from here on are relative to the dictionary's start.
        let dict = &mut out[dict_start..];
        let (mut rel, end) = (pos - dict_start, end - dict_start);
        // The literal context without variable shifts (QEMU cannot know their flags at
        // translation time): x << lc is x * 2^lc, and prev >> (8 - lc) is prev * 2^lc >> 8.
        let (lc_mul, lp_mask, pb_mask) = if DEFAULT_PROPS {
            (1 << 3, 0, 3)
        } else {
            (1usize << self.lc, self.lp_mask, self.pb_mask)
        };
        let probs = &mut self.probs;
        let mut state = self.state;
        let [mut rep0, mut rep1, mut rep2, mut rep3] = self.reps;
        // The byte before `rel` (0 at the start of the dictionary): the literal context.
        let mut prev = if rel > 0 { dict[rel - 1] } else { 0 };
        while rel < end {
            let pos_state = rel & pb_mask & (POS_STATES - 1);
            let st = state & (STATE_SLOTS - 1);
            if rc.bit(&mut probs[IS_MATCH + st * POS_STATES + pos_state]) == 0 {
                // Literal.
                let ctx = (((rel & lp_mask) * lc_mul) | ((usize::from(prev) * lc_mul) >> 8)) & 15;
                // The context's 0x300 probabilities by one pointer (a register fewer).
                let lit = probs[LITERAL + ctx * 0x300..]
                    .first_chunk_mut::<0x300>()
                    .ok_or_else(bad)?;
                let mut symbol = 1usize;
                if state < LIT_STATES {
                    for _ in 0..8 {
                        symbol = (symbol << 1) | rc.bit(&mut lit[symbol]) as usize;
                    }
                    state = state.saturating_sub(3);
                } else {
                    if rep0 >= rel {
                        return Err(bad());
                    }
                    let mut match_byte = usize::from(dict[rel - rep0 - 1]) << 1;
                    let mut offset = 0x100usize;
                    for _ in 0..8 {
                        let match_bit = match_byte & offset;
                        match_byte <<= 1;
                        let bit = rc.bit(&mut lit[offset + match_bit + symbol]) as usize;
                        symbol = (symbol << 1) | bit;
                        offset &= if bit == 1 { match_bit } else { !match_bit };
                    }
                    state = if state < 10 { state - 3 } else { state - 6 };
                }
                prev = symbol as u8;
                dict[rel] = prev;
                rel += 1;
                continue;
            }
            // A match: which distance (new, or rep0..rep3; a short rep is one byte at rep0),
            // then its length, from one length decoder (one copy of its code keeps the loop
            // small: under emulation a jump to another page of code costs a lookup), then a
            // new distance's bits.
            let new_distance = rc.bit(&mut probs[IS_REP + st]) == 0;
            if new_distance {
                state = if state < LIT_STATES { 7 } else { 10 };
                rep3 = rep2;
                rep2 = rep1;
                rep1 = rep0;
            } else {
                if rc.bit(&mut probs[IS_REP0 + st]) == 0 {
                    if rc.bit(&mut probs[IS_REP0_LONG + st * POS_STATES + pos_state]) == 0 {
                        // Short rep: one byte at rep0.
                        state = if state < LIT_STATES { 9 } else { 11 };
                        if rep0 >= rel {
                            return Err(bad());
                        }
                        prev = dict[rel - rep0 - 1];
                        dict[rel] = prev;
                        rel += 1;
                        continue;
                    }
                } else {
                    let dist = if rc.bit(&mut probs[IS_REP1 + st]) == 0 {
                        rep1
                    } else {
                        let d = if rc.bit(&mut probs[IS_REP2 + st]) == 0 {
                            rep2
                        } else {
                            let d = rep3;
                            rep3 = rep2;
                            d
                        };
                        rep2 = rep1;
                        d
                    };
                    rep1 = rep0;
                    rep0 = dist;
                }
                state = if state < LIT_STATES { 8 } else { 11 };
            }
            let len = rc.len(
                probs,
                if new_distance { MATCH_LEN } else { REP_LEN },
                pos_state,
            );
            if new_distance {
                let len_state = (len - 2).min(3);
                let slot = rc.tree(probs, DIST_SLOT + len_state * 64, 6);
                rep0 = if slot < 4 {
                    slot
                } else {
                    let direct = (slot >> 1) - 1;
                    let base = (2 | (slot & 1)) << direct;
                    if slot < END_POS_MODEL {
                        base + rc.reverse(probs, DIST_SPECIAL, base - slot, direct)
                    } else {
                        let high = rc.direct(direct - ALIGN_BITS) << ALIGN_BITS;
                        base + high + rc.reverse(probs, DIST_ALIGN, 0, ALIGN_BITS)
                    }
                };
            }
            // Copy `len` bytes from `rep0 + 1` back (the end-of-payload marker, distance
            // 2^32 - 1, is not allowed in LZMA2 and fails this check too).
            if rep0 >= rel || len > end - rel {
                return Err(bad());
            }
            copy_match(dict, rel, rep0 + 1, len);
            rel += len;
            prev = dict[rel - 1];
        }
        self.state = state;
        self.reps = [rep0, rep1, rep2, rep3];
        if !rc.finished() {
            return Err(bad());
        }
        Ok(())
    }
}

/// `out[pos..pos + len] = out[pos - back..]` byte by byte in meaning (the source may overlap
/// the destination: a period of `back` bytes repeats). Matches are short (a few to a few
/// dozen bytes), so no `memmove`/`memset` call (their set-up, or `rep movs`, costs more than
/// such a copy under emulation): whole 8-byte words, which may run up to 7 bytes past
/// `pos + len`. That overrun is harmless: nothing reads output at or above the decode
/// position before the decoder writes it again (a match or literal reads only below `pos`,
/// and every byte up to the stated size is written or the decode fails). Near the end of
/// `out`, where there is no room for it, byte by byte.
#[inline(always)]
pub(super) fn copy_match(out: &mut [u8], pos: usize, back: usize, len: usize) {
    let src = pos - back;
    if out.len() - pos < len + 8 {
        for i in 0..len {
            out[pos + i] = out[src + i];
        }
        return;
    }
    let mut done = 0;
    if back >= 8 {
        // Each source word lies wholly before its destination word, and was written by
        // the time it is read.
        while done < len {
            let word = read_word(out, src + done);
            out[pos + done..pos + done + 8].copy_from_slice(&word);
            done += 8;
        }
        return;
    }
    // A period shorter than a word: one word of the pattern, written at multiples of the
    // period (`STEP[back]` is the largest one that fits in 8 bytes).
    const STEP: [usize; 8] = [0, 8, 8, 6, 8, 5, 6, 7];
    let mut pattern = [0u8; 8];
    for k in 0..8 {
        pattern[k] = if k < back {
            out[src + k]
        } else {
            pattern[k - back]
        };
    }
    let step = STEP[back];
    while done < len {
        out[pos + done..pos + done + 8].copy_from_slice(&pattern);
        done += step;
    }
}

#[inline(always)]
fn read_word(buf: &[u8], at: usize) -> [u8; 8] {
    let mut word = [0u8; 8];
    word.copy_from_slice(&buf[at..at + 8]);
    word
}

/// A probability `p` (of a 0, in 1/2048) after decoding a 0 (`zero`) or a 1: a 0 moves it
/// up by (2048 - p) >> 5, a 1 down by p >> 5. Both are p - ((p - t) >> 5) with an
/// arithmetic shift, t = 2017 for a 0 and 0 for a 1 (for x = 2048 - p,
/// (31 - x) >> 5 = floor((31 - x) / 32) = -floor(x / 32)): one formula, no branch.
#[inline(always)]
pub(super) fn adapt(p: u32, zero: bool) -> u16 {
    let t = if zero { 2017 } else { 0 };
    (p as i32 - ((p as i32 - t) >> 5)) as u16
}

/// The range decoder over one LZMA2 chunk's compressed bytes. Reading past them yields
/// zeros; [`Rc::finished`] then fails, so an overrun is caught at the chunk's end.
struct Rc<'a> {
    input: &'a [u8],
    at: usize,
    range: u32,
    code: u32,
}

impl<'a> Rc<'a> {
    fn new(input: &'a [u8]) -> R<Self> {
        let first = input.get(..5).ok_or_else(|| corrupt("bad XZ/LZMA2 data"))?;
        if first[0] != 0 {
            return Err(corrupt("bad XZ/LZMA2 data"));
        }
        Ok(Self {
            input,
            at: 5,
            range: u32::MAX,
            code: u32::from_be_bytes([first[1], first[2], first[3], first[4]]),
        })
    }

    #[inline(always)]
    fn normalize(&mut self) {
        if self.range < 1 << 24 {
            self.range <<= 8;
            let b = self.input.get(self.at).copied().unwrap_or(0);
            self.at += 1;
            self.code = (self.code << 8) | u32::from(b);
        }
    }

    /// One bit with probability `prob` (of a 0, in 1/2048), which adapts.
    #[inline(always)]
    fn bit(&mut self, prob: &mut u16) -> u32 {
        self.normalize();
        // Branch-free: under emulation a data-dependent branch ends the translated block,
        // and the host mispredicts it as often as the bits are unpredictable.
        let p = u32::from(*prob);
        let bound = (self.range >> 11) * p;
        let (rest, zero) = self.code.overflowing_sub(bound);
        self.code = if zero { self.code } else { rest };
        self.range = if zero { bound } else { self.range - bound };
        *prob = adapt(p, zero);
        u32::from(!zero)
    }

    /// A bit tree of `bits` bits (at most 8) whose node `m` (from 1) is `probs[base + m]`.
    ///
    /// A loop, not unrolled (`black_box` hides the count): the unrolled length and
    /// distance trees made the decoder's loop three pages of code, and under QEMU TCG a
    /// jump to another page cannot be chained and costs a lookup. Measured by running QEMU
    /// under `valgrind --tool=cachegrind` (host instructions for one boot that decodes
    /// Debian's kernel): 22.69 G unrolled, 21.85 G as a loop (the lookups 1.83 G -> 0.55 G).
    /// The literal's 8 bits stay unrolled: rolled, 22.15 G.
    #[inline(always)]
    fn tree(&mut self, probs: &mut [u16; PROBS], base: usize, bits: u32) -> usize {
        let mut m = 1usize;
        let top = 1usize << core::hint::black_box(bits);
        while m < top {
            m = (m << 1) | self.bit(&mut probs[base + (m & 0xff)]) as usize;
        }
        m - top
    }

    /// A reverse bit tree of `bits` bits (at most 5) whose node `m` (from 1) is
    /// `probs[group + ((offset + m - 1) & 127)]`.
    #[inline(always)]
    fn reverse(
        &mut self,
        probs: &mut [u16; PROBS],
        group: usize,
        offset: usize,
        bits: usize,
    ) -> usize {
        let (mut m, mut symbol) = (1usize, 0usize);
        for i in 0..bits {
            let bit = self.bit(&mut probs[group + ((offset + m - 1) & 127)]) as usize;
            m = (m << 1) | bit;
            symbol |= bit << i;
        }
        symbol
    }

    /// `bits` bits of probability one half, branch-free.
    fn direct(&mut self, bits: usize) -> usize {
        let mut value = 0usize;
        for _ in 0..bits {
            self.normalize();
            self.range >>= 1;
            let (rest, zero) = self.code.overflowing_sub(self.range);
            self.code = if zero { self.code } else { rest };
            value = (value << 1) | usize::from(!zero);
        }
        value
    }

    /// A match length (2 to 273) from the length coder at `probs[base..]`.
    #[inline(always)]
    fn len(&mut self, probs: &mut [u16; PROBS], base: usize, pos_state: usize) -> usize {
        let pos_state = pos_state & (POS_STATES - 1);
        if self.bit(&mut probs[base + LEN_CHOICE]) == 0 {
            2 + self.tree(probs, base + LEN_LOW + pos_state * 8, 3)
        } else if self.bit(&mut probs[base + LEN_CHOICE2]) == 0 {
            10 + self.tree(probs, base + LEN_MID + pos_state * 8, 3)
        } else {
            18 + self.tree(probs, base + LEN_HIGH, 8)
        }
    }

    /// Normalized once more (the decoder leaves every symbol normalized), all the chunk's
    /// bytes were consumed, none more, and the code is back to zero.
    fn finished(&mut self) -> bool {
        self.normalize();
        self.at == self.input.len() && self.code == 0
    }
}

// ---- x86 BCJ -----------------------------------------------------------------------------

/// The index (0 to 7) of the first of 8 bytes that is E8 or E9, or 8 if none is (one word
/// operation instead of 8 byte compares).
#[inline(always)]
fn first_e8_or_e9(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    // A zero byte in `x` marks a byte equal to E8 once its low bit is cleared; the lowest
    // marked byte is exact (a borrow only marks bytes above a zero one).
    let x = (u64::from_le_bytes(word) & !ONES) ^ (0xe8 * ONES);
    let marks = x.wrapping_sub(ONES) & !x & HIGHS;
    (marks.trailing_zeros() / 8) as usize
}

/// Undoes the x86 BCJ filter over a whole block (start offset 0): the absolute targets of
/// `call`/`jmp rel32` (E8/E9) the encoder wrote become relative again.
pub fn x86_decode(buf: &mut [u8]) {
    const ALLOWED: [bool; 8] = [true, true, true, false, true, false, false, false];
    const BIT_NUM: [u32; 8] = [0, 1, 2, 2, 3, 3, 3, 3];
    let msbyte = |b: u8| b == 0 || b == 0xff;
    if buf.len() <= 4 {
        return;
    }
    let limit = buf.len() - 4;
    let mut prev_pos = usize::MAX;
    let mut prev_mask = 0u32;
    let mut i = 0usize;
    while i < limit {
        if buf[i] & 0xfe != 0xe8 {
            i += 1;
            // Straight to the next E8/E9, 8 bytes at a time: bytes without an opcode change
            // nothing, so skipping them is exact.
            while i + 8 <= limit {
                let first = first_e8_or_e9(&buf[i..i + 8]);
                i += first;
                if first < 8 {
                    break;
                }
            }
            continue;
        }
        let gap = i.wrapping_sub(prev_pos);
        if gap > 3 {
            prev_mask = 0;
        } else {
            prev_mask = (prev_mask << (gap - 1)) & 7;
            if prev_mask != 0 {
                let b = buf[i + 4 - BIT_NUM[prev_mask as usize] as usize];
                if !ALLOWED[prev_mask as usize] || msbyte(b) {
                    prev_pos = i;
                    prev_mask = (prev_mask << 1) | 1;
                    i += 1;
                    continue;
                }
            }
        }
        prev_pos = i;
        if msbyte(buf[i + 4]) {
            let mut src = le32(&buf[i + 1..i + 5]);
            let mut dest;
            loop {
                dest = src.wrapping_sub((i as u32).wrapping_add(5));
                if prev_mask == 0 {
                    break;
                }
                let j = BIT_NUM[prev_mask as usize] * 8;
                if !msbyte((dest >> (24 - j)) as u8) {
                    break;
                }
                src = dest ^ ((1u32 << (32 - j)) - 1);
            }
            dest &= 0x01ff_ffff;
            dest |= 0u32.wrapping_sub(dest & 0x0100_0000);
            buf[i + 1..i + 5].copy_from_slice(&dest.to_le_bytes());
            i += 5;
        } else {
            prev_mask = (prev_mask << 1) | 1;
            i += 1;
        }
    }
}

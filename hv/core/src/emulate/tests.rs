//! Decoder tests on byte sequences taken from Debian's Linux 6.1 image (`objdump -d` of the
//! PV ELF; addresses in the comments), plus hostile encodings.

use super::control::*;
use super::decode::DecodeError;
use super::privop::{decode_fixed, decode_privileged, port_in_destination, PrivOp, StringIo};
use super::ptwr::*;
use super::regs::*;

fn regs() -> GuestRegs {
    let mut r = GuestRegs {
        rip: 0xffff_ffff_8100_0000,
        ..GuestRegs::default()
    };
    for (i, g) in r.gpr.iter_mut().enumerate() {
        *g = 0x1000 * (i as u64 + 1);
    }
    r
}

fn privop(bytes: &[u8], r: &GuestRegs) -> (PrivOp, usize) {
    let d = decode_privileged(bytes, r).expect("decodes");
    (d.op, d.len)
}

#[test]
fn control_register_moves_from_linux() {
    let r = regs();
    // ffffffff810228a7: mov %cr0,%rax
    assert_eq!(
        privop(&[0x0f, 0x20, 0xc0], &r),
        (
            PrivOp::ReadCr {
                cr: 0,
                dst: RegOperand::full(RAX)
            },
            3
        )
    );
    // ffffffff81000083: mov %cr4,%rcx
    assert_eq!(
        privop(&[0x0f, 0x20, 0xe1], &r),
        (
            PrivOp::ReadCr {
                cr: 4,
                dst: RegOperand::full(RCX)
            },
            3
        )
    );
    // ffffffff810000a1: mov %rcx,%cr4
    assert_eq!(
        privop(&[0x0f, 0x22, 0xe1], &r),
        (
            PrivOp::WriteCr {
                cr: 4,
                value: 0x2000
            },
            3
        )
    );
    // mov %cr3,%r9 (REX.B)
    assert_eq!(
        privop(&[0x41, 0x0f, 0x20, 0xd9], &r),
        (
            PrivOp::ReadCr {
                cr: 3,
                dst: RegOperand::full(9)
            },
            4
        )
    );
    // mov %cr8,%rax (REX.R): decoded with its real number, which the platform refuses.
    assert!(matches!(
        privop(&[0x44, 0x0f, 0x20, 0xc0], &r).0,
        PrivOp::ReadCr { cr: 8, .. }
    ));
}

#[test]
fn port_io_forms_from_linux() {
    let mut r = regs();
    r.gpr[RDX] = 0xffff_0000_0000_0cf8;
    r.gpr[RAX] = 0x1234_5678_9abc_def0;
    // in (%dx),%al / %ax / %eax
    assert_eq!(
        privop(&[0xec], &r),
        (
            PrivOp::PortIn {
                port: 0xcf8,
                size: 1
            },
            1
        )
    );
    assert_eq!(
        privop(&[0x66, 0xed], &r),
        (
            PrivOp::PortIn {
                port: 0xcf8,
                size: 2
            },
            2
        )
    );
    assert_eq!(
        privop(&[0xed], &r),
        (
            PrivOp::PortIn {
                port: 0xcf8,
                size: 4
            },
            1
        )
    );
    // in $0x61,%al (quick_pit_calibrate)
    assert_eq!(
        privop(&[0xe4, 0x61], &r),
        (
            PrivOp::PortIn {
                port: 0x61,
                size: 1
            },
            2
        )
    );
    // out %al,$0x43; out %ax,(%dx); out %eax,(%dx)
    assert_eq!(
        privop(&[0xe6, 0x43], &r),
        (
            PrivOp::PortOut {
                port: 0x43,
                size: 1,
                value: 0xf0
            },
            2
        )
    );
    assert_eq!(
        privop(&[0x66, 0xef], &r),
        (
            PrivOp::PortOut {
                port: 0xcf8,
                size: 2,
                value: 0xdef0
            },
            2
        )
    );
    assert_eq!(
        privop(&[0xef], &r),
        (
            PrivOp::PortOut {
                port: 0xcf8,
                size: 4,
                value: 0x9abc_def0
            },
            1
        )
    );
    // ffffffff81022841: outsb (ds:rsi → dx, once).
    assert_eq!(
        privop(&[0x6e], &r).0,
        PrivOp::StringIo(StringIo {
            port: 0xcf8,
            size: 1,
            input: false,
            address: r.gpr[RSI],
            count: 1,
            rep: false,
            down: false
        })
    );
    // An `in` of 2 bytes writes ax only.
    let mut out = r;
    out.write(port_in_destination(2), unbacked_port_read(2));
    assert_eq!(out.gpr[RAX], 0x1234_5678_9abc_ffff);
    out.write(port_in_destination(4), unbacked_port_read(4));
    assert_eq!(out.gpr[RAX], 0xffff_ffff);
}

#[test]
fn cache_msr_and_clts() {
    let mut r = regs();
    r.gpr[RCX] = 0xc000_0101;
    r.gpr[RDX] = 0xffff_ffff_0000_0001;
    r.gpr[RAX] = 0xffff_ffff_2222_3333;
    // ffffffff81022330: wbinvd
    assert_eq!(privop(&[0x0f, 0x09], &r), (PrivOp::CacheFlush, 2));
    assert_eq!(privop(&[0x0f, 0x08], &r), (PrivOp::CacheFlush, 2));
    // ffffffff8100002e: wrmsr (edx:eax, upper halves ignored)
    assert_eq!(
        privop(&[0x0f, 0x30], &r),
        (
            PrivOp::Wrmsr {
                msr: 0xc000_0101,
                value: 0x1_2222_3333
            },
            2
        )
    );
    assert_eq!(
        privop(&[0x0f, 0x32], &r),
        (PrivOp::Rdmsr { msr: 0xc000_0101 }, 2)
    );
    assert_eq!(privop(&[0x0f, 0x06], &r), (PrivOp::Clts, 2));
}

#[test]
fn hostile_encodings_are_refused_not_panicked_on() {
    let r = regs();
    // 15 prefixes then the opcode: 16 bytes, longer than any instruction.
    let mut long = [0x66u8; 16];
    long[14] = 0x0f;
    long[15] = 0x09;
    assert_eq!(
        decode_privileged(&long, &r).unwrap_err(),
        DecodeError::Invalid
    );
    // 14 prefixes + wbinvd = 16 bytes, also too long.
    let mut long2 = [0x2eu8; 16];
    long2[14] = 0x0f;
    long2[15] = 0x09;
    assert!(decode_privileged(&long2, &r).is_err());
    // 13 prefixes + wbinvd = 15 bytes: valid.
    let mut ok = [0x3eu8; 15];
    ok[13] = 0x0f;
    ok[14] = 0x09;
    assert_eq!(privop(&ok, &r), (PrivOp::CacheFlush, 15));
    // Cut short (the rest of the bytes could not be fetched).
    assert_eq!(
        decode_privileged(&[0x0f], &r).unwrap_err(),
        DecodeError::Truncated
    );
    assert_eq!(
        decode_privileged(&[], &r).unwrap_err(),
        DecodeError::Truncated
    );
    // cli and sti: no-ops once iopl allows (Xen).
    assert_eq!(privop(&[0xfa], &r), (PrivOp::InterruptFlag, 1));
    assert_eq!(privop(&[0xfb], &r), (PrivOp::InterruptFlag, 1));
    // Not privileged instructions, or not ones we emulate.
    for bytes in [
        &[0xf4][..],                     // hlt
        &[0x0f, 0x01, 0xf8],             // swapgs
        &[0x0f, 0x23, 0xc0],             // mov %rax,%dr0
        &[0x48, 0x89, 0x18],             // mov %rbx,(%rax)
        &[0x0f, 0x0b],                   // ud2
        &[0xc4, 0xe2, 0x79, 0x18, 0x00], // VEX (tables left out)
    ] {
        assert!(
            decode_privileged(bytes, &r).is_err(),
            "{bytes:x?} must not decode as a privileged op"
        );
    }
    // Every single- and two-byte sequence decodes or fails without panicking.
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let _ = decode_privileged(&[a, b, 0xc0, 0, 0, 0, 0, 0], &r);
            let _ = decode_memory_write(&[a, b, 0x00, 0, 0, 0, 0, 0], &r);
            let _ = decode_memory_write(&[0xf0, a, b, 0x00, 0, 0, 0, 0], &r);
            let _ = decode_memory_write(&[0x0f, a, b, 0, 0, 0, 0, 0], &r);
        }
    }
}

#[track_caller]
fn write_of(bytes: &[u8], r: &GuestRegs) -> MemoryWrite {
    match decode_memory_write(bytes, r) {
        Ok(w) => w,
        Err(e) => panic!("{bytes:x?} does not decode as a memory write: {e:?}"),
    }
}

#[test]
fn pte_writes_from_linux_decode() {
    let mut r = regs();
    r.gpr[RAX] = 0xffff_8880_0123_4000;
    r.gpr[RCX] = 0xffff_8880_0123_4008;
    r.gpr[RDX] = 0xffff_8880_0123_4010;
    r.gpr[RBX] = 0xffff_8880_0123_4100;
    // ffffffff810003ae: mov %rbx,(%rax)
    let w = write_of(&[0x48, 0x89, 0x18], &r);
    assert_eq!(
        (w.kind, w.address, w.size, w.len),
        (WriteKind::Store(r.gpr[RBX]), r.gpr[RAX], 8, 3)
    );
    // ffffffff8107e602: xchg %rax,(%rdx) — native_ptep_get_and_clear
    let w = write_of(&[0x48, 0x87, 0x02], &r);
    assert_eq!(
        (w.kind, w.address, w.size),
        (WriteKind::Exchange(RegOperand::full(RAX)), r.gpr[RDX], 8)
    );
    // ffffffff8100ce2b: lock cmpxchg %r8,(%rcx)
    let w = write_of(&[0xf0, 0x4c, 0x0f, 0xb1, 0x01], &r);
    assert_eq!(
        (w.kind, w.address, w.size, w.len),
        (
            WriteKind::CompareExchange(RegOperand::full(8)),
            r.gpr[RCX],
            8,
            5
        )
    );
    // ffffffff8100ea99: lock andb $0xfd,0x8(%rbx) — ptep_set_wrprotect (clear_bit(RW))
    let w = write_of(&[0xf0, 0x80, 0x63, 0x08, 0xfd], &r);
    assert_eq!(
        (w.kind, w.address, w.size),
        (WriteKind::Alu(LogicOp::And, 0xfd), r.gpr[RBX] + 8, 1)
    );
    // ffffffff81089c6d: lock btrq $0x5,(%rdx) — ptep_test_and_clear_young
    let w = write_of(&[0xf0, 0x48, 0x0f, 0xba, 0x32, 0x05], &r);
    assert_eq!(
        (w.kind, w.address, w.size),
        (WriteKind::Bit(BitOp::Reset, 5), r.gpr[RDX], 8)
    );
    // ffffffff8100fbc4: lock btr %r14,(%rbx) — a register bit number selects the qword.
    r.gpr[14] = 64 * 3 + 1;
    let w = write_of(&[0xf0, 0x4c, 0x0f, 0xb3, 0x33], &r);
    assert_eq!(
        (w.kind, w.address),
        (WriteKind::Bit(BitOp::Reset, 1), r.gpr[RBX] + 24)
    );
    r.gpr[14] = (-1i64) as u64;
    let w = write_of(&[0xf0, 0x4c, 0x0f, 0xb3, 0x33], &r);
    assert_eq!(
        (w.kind, w.address),
        (WriteKind::Bit(BitOp::Reset, 63), r.gpr[RBX] - 8)
    );
    // ffffffff81000dfc: movq $0x0,(%rsp) (imm32 sign-extended)
    let w = write_of(&[0x48, 0xc7, 0x04, 0x24, 0xff, 0xff, 0xff, 0xff], &r);
    assert_eq!(
        (w.kind, w.address, w.size),
        (WriteKind::Store(u64::MAX), r.gpr[4], 8)
    );
    // cmpxchg8b (%rax)
    let w = write_of(&[0xf0, 0x0f, 0xc7, 0x08], &r);
    assert_eq!(w.kind, WriteKind::CompareExchange8b);
    // ffffffff81328179: lock cmpxchg16b 0x20(%rsi) — two entries at once: refused, as Xen.
    assert!(decode_memory_write(&[0xf0, 0x48, 0x0f, 0xc7, 0x4e, 0x20], &r).is_err());
    // %gs: override adds the GS base; rip-relative uses the next rip.
    r.gs_base = 0x10_0000;
    let w = write_of(&[0x65, 0x48, 0x89, 0x18], &r);
    assert_eq!(w.address, r.gpr[RAX] + 0x10_0000);
    let w = write_of(&[0x48, 0x89, 0x1d, 0xf9, 0x00, 0x00, 0x00], &r);
    assert_eq!(w.address, r.rip + 0x100);
    // 32-bit address size truncates.
    let w = write_of(&[0x67, 0x48, 0x89, 0x18], &r);
    assert_eq!(w.address, r.gpr[RAX] & 0xffff_ffff);
    // Loads, register destinations and misaligned stores are not writes we emulate.
    for bytes in [
        &[0x48, 0x8b, 0x18][..],   // mov (%rax),%rbx
        &[0x48, 0x89, 0xc3],       // mov %rax,%rbx
        &[0x48, 0x89, 0x58, 0x01], // mov %rbx,0x1(%rax): misaligned
        &[0x48, 0x0f, 0xa3, 0x18], // bt (no write)
        &[0xf3, 0x48, 0xab],       // rep stos
        &[0x0f, 0x29, 0x00],       // movaps %xmm0,(%rax): 16 bytes
    ] {
        assert!(decode_memory_write(bytes, &r).is_err(), "{bytes:x?}");
    }
}

#[test]
fn pte_write_semantics() {
    let mut r = regs();
    r.gpr[RAX] = 0x1111;
    r.gpr[RBX] = 0xaaaa_0000_0000_0067;
    r.gpr[RDX] = 0x4000;
    let old = 0x8000_0000_1234_5067u64;

    // xchg: store rax, rax ← old.
    let w = write_of(&[0x48, 0x87, 0x02], &r);
    let res = w.execute(old, &r);
    assert_eq!(res.store, Some(0x1111));
    assert_eq!(res.regs.gpr[RAX], old);
    assert_eq!(res.regs.rip, r.rip + 3);

    // cmpxchg %rbx,(%rdx): mismatch → rax ← old, ZF=0, nothing stored.
    let w = write_of(&[0xf0, 0x48, 0x0f, 0xb1, 0x1a], &r);
    let res = w.execute(old, &r);
    assert_eq!(res.store, None);
    assert_eq!(res.regs.gpr[RAX], old);
    assert_eq!(res.regs.rflags & ZF, 0);
    // match → ZF=1, rbx stored, rax unchanged.
    let mut m = r;
    m.gpr[RAX] = old;
    let res = w.execute(old, &m);
    assert_eq!(res.store, Some(r.gpr[RBX]));
    assert_eq!(res.regs.gpr[RAX], old);
    assert_ne!(res.regs.rflags & ZF, 0);
    assert_eq!(res.regs.rflags & CF, 0);

    // cmpxchg8b: edx:eax vs old; ecx:ebx stored.
    let w = write_of(&[0xf0, 0x0f, 0xc7, 0x0a], &r);
    let mut c = r;
    c.gpr[RDX] = old >> 32;
    c.gpr[RAX] = old & 0xffff_ffff;
    c.gpr[RCX] = 0x1;
    c.gpr[RBX] = 0x2345_6067;
    let res = w.execute(old, &c);
    assert_eq!(res.store, Some(0x1_2345_6067));
    assert_ne!(res.regs.rflags & ZF, 0);
    let res = w.execute(old ^ 1, &c);
    assert_eq!(res.store, None);
    assert_eq!(
        (res.regs.gpr[RDX], res.regs.gpr[RAX]),
        (old >> 32, (old ^ 1) & 0xffff_ffff)
    );

    // lock andb $0xfd: byte 0 of the entry loses RW; merge keeps the other bytes.
    let w = write_of(&[0xf0, 0x80, 0x22, 0xfd], &r);
    let byte = extract(old, w.offset_in_entry(), w.size);
    let res = w.execute(byte, &r);
    let new = merge(old, w.offset_in_entry(), w.size, res.store.unwrap());
    assert_eq!(new, old & !2);
    assert_eq!(res.regs.rflags & (CF | OF | ZF), 0);

    // lock btrq $5: CF ← A bit.
    let w = write_of(&[0xf0, 0x48, 0x0f, 0xba, 0x32, 0x05], &r);
    let res = w.execute(old | 0x20, &r);
    assert_eq!(res.store, Some(old & !0x20));
    assert_ne!(res.regs.rflags & CF, 0);
    let res = w.execute(old & !0x20, &r);
    assert_eq!(res.regs.rflags & CF, 0);

    // Sub-word access in the upper half: byte 7 (NX lives there).
    assert_eq!(extract(old, 7, 1), 0x80);
    assert_eq!(merge(old, 7, 1, 0), old & !(1 << 63));
    assert_eq!(merge(old, 4, 4, 0xdead_beef), 0xdead_beef_1234_5067);
}

#[test]
fn arithmetic_flags_match_the_cpu() {
    // cmp 1, 2 at 8 bits: 1 - 2 = 0xff → CF SF AF PF(0xff has 8 ones → even) set.
    let f = sub_flags(1, 2, 1);
    assert_eq!(f & (CF | SF | ZF | OF), CF | SF);
    assert_ne!(f & PF, 0);
    // 0x80 - 1 at 8 bits overflows.
    assert_ne!(sub_flags(0x80, 1, 1) & OF, 0);
    assert_eq!(sub_flags(5, 5, 8) & (ZF | CF), ZF);
}

#[test]
fn string_io_from_linux_steps_like_the_cpu() {
    let mut r = regs();
    r.gpr[RDX] = 0x1f0;
    r.gpr[RCX] = 5;
    r.gpr[RDI] = 0x7000;
    r.gpr[RSI] = 0x9000;
    // ffffffff81544df4: rep insw (%dx),%es:(%rdi)
    let (op, len) = privop(&[0xf3, 0x66, 0x6d], &r);
    let PrivOp::StringIo(io) = op else {
        panic!("{op:?}")
    };
    assert_eq!(
        (io.port, io.size, io.input, io.address, io.count, io.rep, len),
        (0x1f0, 2, true, 0x7000, 5, true, 3)
    );
    assert_eq!(io.element_address(4), 0x7008);
    // Part of it: rdi and rcx move, rip stays (the next fault continues).
    let (mid, done) = io.after(&r, 3, len);
    assert!(!done);
    assert_eq!((mid.gpr[RDI], mid.gpr[RCX], mid.rip), (0x7006, 2, r.rip));
    let (end, done) = io.after(&r, 5, len);
    assert!(done);
    assert_eq!(
        (end.gpr[RDI], end.gpr[RCX], end.rip),
        (0x700a, 0, r.rip + 3)
    );
    // ffffffff81544bb0: rep outsl %ds:(%rsi),(%dx), walking down (DF set), %gs: override.
    r.rflags |= 1 << 10;
    r.gs_base = 0x100_0000;
    let (op, len) = privop(&[0x65, 0xf3, 0x6f], &r);
    let PrivOp::StringIo(io) = op else {
        panic!("{op:?}")
    };
    assert_eq!(
        (io.size, io.input, io.address, io.down),
        (4, false, 0x100_9000, true)
    );
    assert_eq!(io.element_address(2), 0x100_8ff8);
    let (end, _) = io.after(&r, 5, len);
    assert_eq!(end.gpr[RSI], 0x9000 - 20);
    // rep with rcx = 0 does nothing and completes.
    r.gpr[RCX] = 0;
    let (op, len) = privop(&[0xf3, 0x6c], &r);
    let PrivOp::StringIo(io) = op else {
        panic!("{op:?}")
    };
    let (end, done) = io.after(&r, 0, len);
    assert!(done && end.gpr[RDI] == r.gpr[RDI] && end.rip == r.rip + 2);
    // 32-bit addressing (0x67) is refused.
    assert!(decode_privileged(&[0x67, 0xf3, 0x6c], &r).is_err());
}

/// The full decoder's view of `bytes` (the fixed-form path bypassed).
fn decoded_by_iced(bytes: &[u8], r: &GuestRegs) -> Option<super::privop::Decoded> {
    // A leading 0x2e (CS segment prefix) makes the fixed path step aside; it changes nothing
    // for these register-only forms, and the length is one more.
    let mut prefixed = vec![0x2e];
    prefixed.extend_from_slice(bytes);
    let d = decode_privileged(&prefixed, r).ok()?;
    Some(super::privop::Decoded {
        op: d.op,
        len: d.len - 1,
    })
}

#[test]
fn fixed_forms_decode_as_the_full_decoder_does() {
    let mut r = regs();
    r.gpr[RAX] = 0x1122_3344_5566_7788;
    r.gpr[RCX] = 0xc000_0101;
    r.gpr[RDX] = 0xaabb_ccdd_0000_03f8;
    let mut recognised = 0;
    for first in 0..=255u8 {
        for second in 0..=255u8 {
            let bytes = [first, second, 0x90, 0x90];
            let Some(fixed) = decode_fixed(&bytes, &r) else {
                continue;
            };
            recognised += 1;
            assert_eq!(
                Some(fixed),
                decoded_by_iced(&bytes, &r),
                "{first:#04x} {second:#04x}"
            );
            assert_eq!(decode_privileged(&bytes, &r), Ok(fixed));
        }
    }
    // 0F 30/32/06/08/09 (5), FA FB E4..E7 EC..EF with any second byte (10 x 256).
    assert_eq!(recognised, 5 + 10 * 256);
    // Prefixed forms are left to the full decoder.
    for prefixed in [[0x66, 0xed], [0xf3, 0xfa], [0x48, 0xef], [0x2e, 0x0f]] {
        assert_eq!(decode_fixed(&prefixed, &r), None);
    }
    // Too short for its immediate: not a fixed form.
    assert_eq!(decode_fixed(&[0xe4], &r), None);
}

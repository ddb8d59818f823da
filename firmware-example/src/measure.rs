//! What the firmware measures about itself: instructions (SysTick under QEMU's `-icount`), stack
//! use (painting), and the flash and static RAM of the image (linker symbols).
//!
//! This is the one module with `unsafe`: it reads linker symbols' addresses and paints the unused
//! stack with volatile writes. Both are sound: the symbols are defined by cortex-m-rt's `link.x`,
//! and the painted range lies strictly between the end of the statics (`_stack_end`) and the
//! current stack pointer (less a margin), memory that no live object occupies.

use cortex_m::peripheral::{syst::SystClkSource, SYST};

/// SysTick counts the core clock, 25 MHz on mps2-an386; under `-icount shift=0` QEMU's virtual
/// clock advances 1 ns per instruction, so one tick is 40 instructions (docs/firmware.md).
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

const PAINT: u32 = 0xC5C5_C5C5;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
    static __sdata: u32;
    static __edata: u32;
    static __sidata: u32;
    static __euninit: u32;
}

fn addr(sym: *const u32) -> usize {
    sym as usize
}

/// Fills the unused stack with a pattern; call it first thing in `main`.
pub fn paint_stack() {
    let bottom = addr(core::ptr::addr_of!(_stack_end));
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    // Leave 256 bytes below the current frame untouched.
    while p + 4 <= sp.saturating_sub(256) {
        // SAFETY: `p` is 4-aligned (cortex-m-rt asserts `_stack_end % 4 == 0`), inside RAM, above
        // every static and below the live stack: no object lives there.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The deepest the stack has reached since [`paint_stack`], in bytes.
pub fn stack_peak() -> usize {
    let bottom = addr(core::ptr::addr_of!(_stack_end));
    let top = addr(core::ptr::addr_of!(_stack_start));
    let mut p = bottom;
    // SAFETY: reading 4-aligned words of RAM between the statics and the stack top.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Bytes of RAM taken by `.data`, `.bss` and `.uninit`.
pub fn static_ram() -> usize {
    addr(core::ptr::addr_of!(__euninit)) - addr(core::ptr::addr_of!(__sdata))
}

/// Bytes of flash the image occupies, from the vector table at `flash_origin` to the end of the
/// `.data` initializers.
pub fn flash_used(flash_origin: usize) -> usize {
    let data = addr(core::ptr::addr_of!(__edata)) - addr(core::ptr::addr_of!(__sdata));
    addr(core::ptr::addr_of!(__sidata)) + data - flash_origin
}

/// A free-running 24-bit SysTick counting core cycles.
pub struct Clock {
    syst: SYST,
}

impl Clock {
    /// Starts SysTick counting down from its largest reload.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        Self { syst }
    }

    /// The counter now.
    pub fn now(&self) -> u32 {
        let _ = &self.syst;
        SYST::get_current()
    }

    /// Ticks from `start` (an earlier [`Clock::now`]) to now; intervals must stay under 2^24 ticks.
    pub fn ticks_since(&self, start: u32) -> u32 {
        start.wrapping_sub(self.now()) & 0x00FF_FFFF
    }
}

/// Instructions per operation from two timed loops over `n` operations, one doing the work
/// (`with` ticks) and the same loop without it (`without`), rounded to the nearest.
pub fn instructions_per(with: u32, without: u32, n: u64) -> u64 {
    let n = n.max(1);
    (u64::from(with.saturating_sub(without)) * INSTRUCTIONS_PER_TICK + n / 2) / n
}

impl crate::bits::Line {
    /// Appends ` flash_bytes=… ram_bytes=…`, the end of every summary line: the image's flash,
    /// and its static RAM plus the stack's peak.
    #[inline(always)]
    pub fn footprint(&mut self) -> &mut Self {
        self.str(" flash_bytes=")
            .uint(flash_used(crate::config::FLASH_ORIGIN) as u64)
            .str(" ram_bytes=")
            .uint((static_ram() + stack_peak()) as u64)
    }
}

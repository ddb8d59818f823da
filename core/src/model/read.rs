//! Little-endian reads of the file's fields that return `None` past the end of the bytes, so
//! that no read can panic whatever the buffer.

pub(super) fn read_array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}
pub(super) fn rd_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}
pub(super) fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    read_array(b, off).map(u16::from_le_bytes)
}
pub(super) fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    read_array(b, off).map(u32::from_le_bytes)
}
pub(super) fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    read_array(b, off).map(i32::from_le_bytes)
}
pub(super) fn rd_f32(b: &[u8], off: usize) -> Option<f32> {
    read_array(b, off).map(f32::from_le_bytes)
}

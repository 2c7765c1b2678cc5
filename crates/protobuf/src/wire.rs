//! Protobuf wire format primitives: varints, tags and length-delimited values.

use crate::error::ProtoError;

/// Wire type of varint values (int32, int64, bool).
pub(crate) const VARINT: u8 = 0;
/// Wire type of 64-bit fixed values (double).
pub(crate) const FIXED64: u8 = 1;
/// Wire type of length-delimited values (string, bytes, messages, packed repeated).
pub(crate) const LEN: u8 = 2;
/// Wire type of 32-bit fixed values (float; unused by Kubernetes but must be skippable).
pub(crate) const FIXED32: u8 = 5;

/// One decoded field value as it sits on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WireValue<'a> {
    /// A varint.
    Varint(u64),
    /// 8 raw bytes.
    Fixed64(u64),
    /// A length-delimited slice.
    Len(&'a [u8]),
    /// 4 raw bytes (no Kubernetes field is 32-bit fixed; kept so unknown fields skip cleanly).
    Fixed32(#[allow(dead_code)] u32),
}

impl WireValue<'_> {
    /// The wire type number of this value.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => VARINT,
            WireValue::Fixed64(_) => FIXED64,
            WireValue::Len(_) => LEN,
            WireValue::Fixed32(_) => FIXED32,
        }
    }
}

/// Reads fields one at a time from a message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over one message's bytes.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Reads one varint from the front of the buffer.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(ProtoError::Truncated);
            };
            self.buf = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::BadVarint)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if n > self.buf.len() {
            return Err(ProtoError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Whether all bytes have been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads the next `(field number, value)`, or `None` at the end.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| ProtoError::BadVarint)?;
        let value = match (key & 7) as u8 {
            VARINT => WireValue::Varint(self.varint()?),
            FIXED64 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| ProtoError::Truncated)?,
                ))
            }
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| ProtoError::Truncated)?;
                WireValue::Len(self.take(n)?)
            }
            FIXED32 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(
                    b.try_into().map_err(|_| ProtoError::Truncated)?,
                ))
            }
            other => return Err(ProtoError::BadWireType(u64::from(other))),
        };
        Ok(Some((tag, value)))
    }
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
pub(crate) fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire_type));
}

/// Appends a length-delimited field.
pub(crate) fn put_len(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out).varint(), Ok(v));
        }
    }

    #[test]
    fn overlong_or_truncated_varints_fail() {
        assert_eq!(
            Reader::new(&[0xff; 11]).varint(),
            Err(ProtoError::BadVarint)
        );
        assert_eq!(Reader::new(&[0x80]).varint(), Err(ProtoError::Truncated));
    }

    #[test]
    fn fields_and_bad_lengths() {
        let mut out = Vec::new();
        put_len(&mut out, 3, b"abc");
        put_key(&mut out, 4, VARINT);
        put_varint(&mut out, 9);
        let mut r = Reader::new(&out);
        assert!(matches!(r.field(), Ok(Some((3, WireValue::Len(b"abc"))))));
        assert!(matches!(r.field(), Ok(Some((4, WireValue::Varint(9))))));
        assert!(matches!(r.field(), Ok(None)));
        assert_eq!(
            Reader::new(&[0x1a, 0x05, b'a']).field().err(),
            Some(ProtoError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x0b]).field().err(),
            Some(ProtoError::BadWireType(3))
        );
    }
}

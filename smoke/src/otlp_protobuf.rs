//! OTLP/HTTP protobuf, decoded by hand: a protobuf wire-format reader just large enough
//! for the span names and attributes of an `ExportTraceServiceRequest`.

use crate::collector::CollectedSpan;
use std::collections::BTreeMap;

/// One protobuf field: its number and its wire value.
enum Wire<'b> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'b [u8]),
    /// Skipped: no field that the collector reads is a fixed32.
    Fixed32,
}

/// The fields of one protobuf message, or `None` when the bytes are not one.
fn protobuf_fields(mut buf: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = buf.split_first()?;
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    fn take<'b>(buf: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        if buf.len() < n {
            return None;
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Some(head)
    }
    let mut fields = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(take(&mut buf, 8)?.try_into().ok()?)),
            2 => {
                let n = usize::try_from(varint(&mut buf)?).ok()?;
                Wire::Bytes(take(&mut buf, n)?)
            }
            5 => {
                take(&mut buf, 4)?;
                Wire::Fixed32
            }
            _ => return None,
        };
        fields.push((key >> 3, value));
    }
    Some(fields)
}

/// The sub-messages (or strings) in field `number`.
fn protobuf_bytes<'b>(fields: &[(u64, Wire<'b>)], number: u64) -> Vec<&'b [u8]> {
    fields
        .iter()
        .filter_map(|(n, w)| match w {
            Wire::Bytes(b) if *n == number => Some(*b),
            _ => None,
        })
        .collect()
}

/// OTLP/HTTP protobuf, `ExportTraceServiceRequest`: resource_spans (1) → scope_spans
/// (2) → spans (2) with name (5) and attributes (9, `KeyValue`: key 1, `AnyValue` 2).
pub(crate) fn parse_otlp_protobuf(body: &[u8]) -> Option<Vec<CollectedSpan>> {
    let mut out = Vec::new();
    for resource in protobuf_bytes(&protobuf_fields(body)?, 1) {
        for scope in protobuf_bytes(&protobuf_fields(resource)?, 2) {
            for span in protobuf_bytes(&protobuf_fields(scope)?, 2) {
                let fields = protobuf_fields(span)?;
                let name = protobuf_bytes(&fields, 5).first().map(|b| String::from_utf8_lossy(b).into_owned());
                let mut tags = BTreeMap::new();
                for attribute in protobuf_bytes(&fields, 9) {
                    let kv = protobuf_fields(attribute)?;
                    let Some(key) = protobuf_bytes(&kv, 1).first().map(|b| String::from_utf8_lossy(b).into_owned())
                    else {
                        continue;
                    };
                    let value = protobuf_bytes(&kv, 2).first().and_then(|v| any_value(v)).unwrap_or_default();
                    tags.insert(key, value);
                }
                out.push(CollectedSpan { name: name.unwrap_or_default(), tags });
            }
        }
    }
    Some(out)
}

/// An OTLP `AnyValue` as text: string 1, bool 2, int 3, double 4.
fn any_value(bytes: &[u8]) -> Option<String> {
    let fields = protobuf_fields(bytes)?;
    fields.iter().find_map(|(n, w)| match (n, w) {
        (1, Wire::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        (2, Wire::Varint(v)) => Some((*v != 0).to_string()),
        (3, Wire::Varint(v)) => Some((*v as i64).to_string()),
        (4, Wire::Fixed64(v)) => Some(f64::from_bits(*v).to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_protobuf_spans_are_decoded() {
        // ExportTraceServiceRequest{resource_spans{scope_spans{spans{name:"ingress",
        // attributes{key:"k", value{string_value:"v"}}}}}}
        fn len(field: u8, bytes: &[u8]) -> Vec<u8> {
            let mut out = vec![(field << 3) | 2, bytes.len() as u8];
            out.extend_from_slice(bytes);
            out
        }
        let any = len(1, b"v");
        let kv = [len(1, b"k"), len(2, &any)].concat();
        let span = [len(5, b"ingress"), len(9, &kv)].concat();
        let body = len(1, &len(2, &len(2, &span)));
        let spans = parse_otlp_protobuf(&body).unwrap();
        let tags: BTreeMap<String, String> = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert_eq!(spans, vec![CollectedSpan { name: "ingress".to_string(), tags }]);
    }
}

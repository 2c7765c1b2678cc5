//! One DNS packet in, one reply out (or nothing): parsing, the checks a server owes malformed
//! input, the snapshot lookup and the size limits of UDP. No I/O here, so the handler is fuzzed
//! directly by the unit tests.

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use crate::records::Outcome;
use crate::snapshot::Snapshot;

/// The transport a query came on (UDP answers must fit the client's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A datagram: 512 bytes, or the EDNS buffer size the client announced (at most 4096).
    Udp,
    /// A length-prefixed TCP message: up to 65535 bytes.
    Tcp,
}

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send these bytes back.
    Send(Vec<u8>),
    /// Relay the packet to the `--dns-forward` resolver (a name outside the cluster).
    Forward,
    /// Send nothing: too short to carry an id, or itself a response (never answer answers, so
    /// two servers cannot ping-pong).
    Drop,
}

/// The EDNS buffer size we announce (the DNS flag day's recommendation).
const OUR_EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP answer we send, whatever a client announces.
const MAX_UDP_PAYLOAD: u16 = 4096;

/// Answers one packet. `snapshot` is `None` until the first sync with the API (answers are then
/// SERVFAIL rather than wrong NXDOMAINs); `forwarding` says whether `--dns-forward` is set.
pub fn handle(
    snapshot: Option<&Snapshot>,
    forwarding: bool,
    packet: &[u8],
    transport: Transport,
) -> Reply {
    let request = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return format_error(packet, forwarding),
    };
    if request.message_type() != MessageType::Query {
        return Reply::Drop;
    }
    let mut response = response_to(&request, forwarding);
    let code = match check(&request) {
        Err(code) => code,
        Ok(()) => match snapshot {
            None => ResponseCode::ServFail,
            Some(snap) => {
                let query = &request.queries()[0];
                match snap.resolve(query.name(), query.query_type()) {
                    Outcome::OutOfZone if forwarding => return Reply::Forward,
                    Outcome::OutOfZone => ResponseCode::Refused,
                    Outcome::Answer(answer) => {
                        response.set_authoritative(true);
                        response.add_answers(answer.answers);
                        response.add_name_servers(answer.authority);
                        response.add_additionals(answer.additionals);
                        answer.rcode
                    }
                }
            }
        },
    };
    response.set_response_code(code);
    encode(response, udp_limit(&request, transport))
}

/// What this server answers at all: standard queries with one IN question that is not a zone
/// transfer.
fn check(request: &Message) -> Result<(), ResponseCode> {
    if request.op_code() != OpCode::Query {
        return Err(ResponseCode::NotImp);
    }
    if request
        .extensions()
        .as_ref()
        .is_some_and(|e| e.version() > 0)
    {
        return Err(ResponseCode::BADVERS);
    }
    let [query] = request.queries() else {
        return Err(ResponseCode::FormErr);
    };
    if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
        return Err(ResponseCode::Refused);
    }
    match query.query_type() {
        RecordType::AXFR | RecordType::IXFR => Err(ResponseCode::Refused),
        _ => Ok(()),
    }
}

fn response_to(request: &Message, forwarding: bool) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(forwarding)
        .set_checking_disabled(request.checking_disabled());
    response.add_queries(request.queries().iter().cloned());
    if request.extensions().as_ref().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

fn udp_limit(request: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => {
            let announced = request
                .extensions()
                .as_ref()
                .map_or(512, |e| e.max_payload());
            usize::from(announced.clamp(512, MAX_UDP_PAYLOAD))
        }
    }
}

/// Encodes `response`; one that does not fit is sent truncated (TC set, no records) so the
/// client retries over TCP.
fn encode(response: Message, limit: usize) -> Reply {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => Reply::Send(bytes),
        _ => match response.truncate().to_vec() {
            Ok(bytes) if bytes.len() <= limit => Reply::Send(bytes),
            _ => Reply::Drop,
        },
    }
}

/// A packet that does not parse: FORMERR with its id when it has a query's header, else
/// nothing.
fn format_error(packet: &[u8], forwarding: bool) -> Reply {
    let Some(header) = packet.get(..Header::len()) else {
        return Reply::Drop;
    };
    let Ok(header) = Header::from_bytes(header) else {
        return Reply::Drop;
    };
    if header.message_type() != MessageType::Query {
        return Reply::Drop;
    }
    let mut response = Message::new();
    response
        .set_id(header.id())
        .set_message_type(MessageType::Response)
        .set_op_code(header.op_code())
        .set_recursion_desired(header.recursion_desired())
        .set_recursion_available(forwarding)
        .set_response_code(ResponseCode::FormErr);
    encode(response, 512)
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;

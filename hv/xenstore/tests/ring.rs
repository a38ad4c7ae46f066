//! The ring transport: wrap-around, split and oversized messages, index validation,
//! reconnect, stalls and output overflow.
mod common;

use common::*;
use pv_abi::io::xs_wire::*;
use xenstore::{DomId, Limits, ProtocolError};

fn start_indices_at(h: &mut Harness, id: u16, value: u32) {
    let page = &mut h.guest(id).page;
    for offset in [
        offsets::REQ_CONS,
        offsets::REQ_PROD,
        offsets::RSP_CONS,
        offsets::RSP_PROD,
    ] {
        page.set_u32(offset, value);
    }
}

#[test]
fn features_are_advertised_on_first_service() {
    let mut h = Harness::new();
    h.add_guest(5);
    h.service_one(DomId(5));
    assert_eq!(h.guest(5).page.u32_at(offsets::SERVER_FEATURES), 15);
}

#[test]
fn indices_wrap_around_u32_and_the_ring() {
    let mut h = Harness::new();
    h.add_guest(5);
    start_indices_at(&mut h, 5, u32::MAX - 700);
    let value = vec![b'v'; 1500];
    for round in 0..6 {
        let path = format!("data/k{round}");
        assert_eq!(h.write(5, &path, &value), Ok(b"OK\0".to_vec()));
        assert_eq!(h.read(5, &path), Ok(value.clone()));
    }
    let page = &h.guest(5).page;
    assert!(
        page.u32_at(offsets::REQ_PROD) < 0x10000,
        "producer wrapped past 2^32"
    );
    assert_eq!(
        page.u32_at(offsets::REQ_CONS),
        page.u32_at(offsets::REQ_PROD)
    );
}

#[test]
fn messages_split_into_single_bytes() {
    let mut h = Harness::new();
    h.add_guest(5);
    let bytes = xenstore::message::Message::new(XS_READ, 77, 0, nul("domid")).to_bytes();
    for b in bytes {
        h.send_raw(5, &[b]);
        h.service_one(DomId(5));
    }
    let reply = h.guest(5).replies.pop_front().unwrap();
    assert_eq!(
        (reply.header.req_id, reply.payload.as_slice()),
        (77, &b"5"[..])
    );
}

#[test]
fn many_requests_in_one_batch_are_answered_in_order() {
    let mut h = Harness::new();
    h.add_guest(5);
    let ids: Vec<u32> = (0..200)
        .map(|i| h.send(5, XS_WRITE, 0, format!("data/n{i}\0{i}").as_bytes()))
        .collect();
    h.run();
    let got: Vec<u32> = h
        .guest(5)
        .replies
        .drain(..)
        .map(|m| m.header.req_id)
        .collect();
    assert_eq!(got, ids);
}

#[test]
fn bad_request_index_breaks_the_connection_until_reconnect() {
    let mut h = Harness::new();
    h.add_guest(5);
    h.guest(5).page.set_u32(offsets::REQ_PROD, 1025);
    let outcome = h.service_one(DomId(5));
    assert_eq!(outcome.error, Some(ProtocolError::RingIndex));
    assert!(outcome.notify_guest);
    assert_eq!(
        h.guest(5).page.u32_at(offsets::ERROR),
        XENSTORE_ERROR_RINGIDX
    );
    assert_eq!(
        h.store.connection_status(DomId(5)).unwrap().broken,
        Some(ProtocolError::RingIndex)
    );
    // Reported once; requests are ignored while broken.
    assert_eq!(h.service_one(DomId(5)).error, None);

    // The guest asks for a reconnect.
    h.guest(5)
        .page
        .set_u32(offsets::CONNECTION, XENSTORE_RECONNECT);
    let outcome = h.service_one(DomId(5));
    assert!(outcome.notify_guest);
    let page = &h.guest(5).page;
    assert_eq!(page.u32_at(offsets::CONNECTION), XENSTORE_CONNECTED);
    assert_eq!(page.u32_at(offsets::ERROR), XENSTORE_ERROR_NONE);
    assert_eq!(page.u32_at(offsets::REQ_PROD), 0);
    assert_eq!(h.read(5, "domid"), Ok(b"5".to_vec()));
}

#[test]
fn bad_response_index_breaks_the_connection() {
    let mut h = Harness::new();
    h.add_guest(5);
    h.guest(5).page.set_u32(offsets::RSP_CONS, 5000);
    h.send(5, XS_READ, 0, &nul("domid"));
    let outcome = h.service_one(DomId(5));
    assert_eq!(outcome.error, Some(ProtocolError::RingIndex));
}

#[test]
fn oversized_payload_is_a_protocol_error() {
    let mut h = Harness::new();
    h.add_guest(5);
    let mut message = xenstore::message::Message::new(XS_WRITE, 1, 0, Vec::new());
    message.header.len = XENSTORE_PAYLOAD_MAX as u32 + 1;
    h.send_raw(5, &message.to_bytes());
    let outcome = h.service_one(DomId(5));
    assert_eq!(outcome.error, Some(ProtocolError::PayloadTooLong));
    assert_eq!(h.guest(5).page.u32_at(offsets::ERROR), XENSTORE_ERROR_PROTO);
}

#[test]
fn maximal_payload_is_accepted() {
    let mut h = Harness::new();
    h.add_guest(5);
    let path = "data/m";
    let value = vec![b'x'; XENSTORE_PAYLOAD_MAX - path.len() - 1];
    assert_eq!(
        h.write(5, path, &value),
        Err("ENOSPC".into()),
        "beyond max_node_size, but parsed fine"
    );
    h.store
        .tool_write("/local/domain/5/data/m", &value)
        .unwrap();
    assert_eq!(h.read(5, path), Ok(value));
}

#[test]
fn a_guest_that_does_not_drain_is_stalled_not_grown() {
    let limits = Limits {
        max_output_bytes: 3 * 4112,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    let value = vec![b'v'; 2000];
    h.store
        .tool_write("/local/domain/5/data/big", &value)
        .unwrap();
    h.guest(5).draining = false;
    let ids: Vec<u32> = (0..40)
        .map(|_| h.send(5, XS_READ, 0, &nul("data/big")))
        .collect();
    h.run();
    let status = h.store.connection_status(DomId(5)).unwrap();
    assert_eq!(status.broken, None);
    assert!(
        status.queued_output_bytes <= limits.max_output_bytes,
        "{status:?}"
    );
    assert!(
        !h.guest(5).pending.is_empty()
            || h.guest(5).page.u32_at(offsets::REQ_CONS)
                != h.guest(5).page.u32_at(offsets::REQ_PROD)
    );
    h.guest(5).draining = true;
    h.run();
    let got: Vec<u32> = h.guest(5).replies.iter().map(|m| m.header.req_id).collect();
    assert_eq!(got, ids);
    assert!(h.guest(5).replies.iter().all(|m| m.payload == value));
}

#[test]
fn event_overflow_breaks_only_that_connection() {
    let limits = Limits {
        max_output_bytes: 2048,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    h.add_guest(6);
    h.ask(5, XS_WATCH, 0, &strs(&["data", "t"])).unwrap();
    h.guest(5).draining = false;
    for i in 0..200 {
        h.store
            .tool_write(&format!("/local/domain/5/data/n{i}"), b"")
            .unwrap();
    }
    h.run();
    assert_eq!(
        h.guest(5).last_outcome.error,
        None,
        "reported on the service after breaking"
    );
    assert_eq!(
        h.store.connection_status(DomId(5)).unwrap().broken,
        Some(ProtocolError::OutputOverflow)
    );
    assert_eq!(h.guest(5).page.u32_at(offsets::ERROR), XENSTORE_ERROR_COMM);
    assert_eq!(h.read(6, "domid"), Ok(b"6".to_vec()));
}

#[test]
fn service_of_unknown_domain_does_nothing() {
    let mut h = Harness::new();
    let mut page = VecPage::new();
    page.set_u32(offsets::REQ_PROD, 5000);
    let outcome = h.store.service(DomId(9), &mut page);
    assert_eq!(outcome, xenstore::ServiceOutcome::default());
    assert_eq!(page.0, {
        let mut p = VecPage::new();
        p.set_u32(offsets::REQ_PROD, 5000);
        p.0
    });
}

#[test]
fn overflow_caused_by_own_request_is_reported_in_the_same_service() {
    let limits = Limits {
        max_output_bytes: 2048,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    // Two watches whose events are about 2 KB each: one change makes 4 KB of events.
    for token in ["a", "b"] {
        let token = token.repeat(2000);
        h.ask(5, XS_WATCH, 0, &strs(&["data", &token])).unwrap();
    }
    h.events(5);
    assert_eq!(
        h.store
            .connection_status(DomId(5))
            .unwrap()
            .queued_output_bytes,
        0
    );
    h.send(5, XS_WRITE, 0, b"data/x\0v");
    let outcome = h.service_one(DomId(5));
    assert_eq!(outcome.error, Some(ProtocolError::OutputOverflow));
    assert!(outcome.notify_guest);
    assert_eq!(h.guest(5).page.u32_at(offsets::ERROR), XENSTORE_ERROR_COMM);
}

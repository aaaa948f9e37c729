//! Unit tests of [`super::Delivery`]: no network, time passed in.

use std::time::Duration;

use super::*;
use crate::pubsub::encode;

/// Each author limited to `per_second` and `burst`, each delivering
/// peer to four times that.
fn delivery(per_second: f64, burst: u32) -> Delivery {
    Delivery::new(
        Rate { per_second, burst },
        Rate {
            per_second: 4.0 * per_second,
            burst: 4 * burst,
        },
    )
}

/// A signed-looking gossipsub message from `author` on topic `name`.
fn incoming(author: Option<PeerId>, topic: TopicHash, data: Vec<u8>) -> gossipsub::Message {
    gossipsub::Message {
        source: author,
        data,
        sequence_number: Some(1),
        topic,
    }
}

fn text(author: PeerId, name: &str, text: &str) -> gossipsub::Message {
    let data = encode(text.as_bytes(), SystemTime::now());
    incoming(Some(author), wire_topic(name).hash(), data)
}

fn message(name: &str, text: &str) -> Message {
    let now = SystemTime::now();
    Message {
        topic: name.into(),
        from: PeerId::random(),
        sent_at: now,
        received_at: now,
        data: text.as_bytes().to_vec(),
    }
}

#[test]
fn the_first_subscriber_joins_the_topic_and_the_second_does_not() {
    let mut d = delivery(10.0, 10);
    let ((first, _rx1), join) = d.handle_subscribe("chat").unwrap();
    assert_eq!(join.map(|t| t.hash()), Some(wire_topic("chat").hash()));
    let ((second, _rx2), join) = d.handle_subscribe("chat").unwrap();
    assert!(join.is_none(), "already joined");
    assert_ne!(first, second);
    let ((_, _rx3), join) = d.handle_subscribe("other").unwrap();
    assert!(join.is_some(), "another topic is joined on its own");
}

#[test]
fn bad_topic_names_are_refused_before_anything_is_joined() {
    let mut d = delivery(10.0, 10);
    for bad in ["", "a b", "a/b"] {
        assert!(matches!(d.handle_subscribe(bad), Err(Error::BadTopic(_))));
        assert!(!d.is_subscribed(bad));
    }
}

#[test]
fn a_topic_is_left_only_when_its_last_subscriber_goes() {
    let mut d = delivery(10.0, 10);
    let ((a, _rx_a), _) = d.handle_subscribe("chat").unwrap();
    let ((b, _rx_b), _) = d.handle_subscribe("chat").unwrap();
    assert_eq!(d.handle_unsubscribe("chat", a), None);
    assert!(d.is_subscribed("chat"));
    assert_eq!(d.handle_unsubscribe("chat", a), None, "twice is harmless");
    assert_eq!(
        d.handle_unsubscribe("chat", b),
        Some(wire_topic("chat").hash())
    );
    assert!(!d.is_subscribed("chat"));
    assert_eq!(d.handle_unsubscribe("chat", b), None, "already left");
    assert_eq!(d.handle_unsubscribe("never", 7), None);
    // Joining again after leaving asks for a join again.
    assert!(d.handle_subscribe("chat").unwrap().1.is_some());
}

#[test]
fn every_subscriber_gets_each_message_and_gone_ones_are_forgotten() {
    let mut d = delivery(10.0, 10);
    let ((_, mut rx_a), _) = d.handle_subscribe("chat").unwrap();
    let ((_, rx_b), _) = d.handle_subscribe("chat").unwrap();
    assert_eq!(d.deliver(message("chat", "one")), None);
    assert_eq!(rx_a.try_recv().unwrap().data, b"one");
    drop(rx_b);
    assert_eq!(d.deliver(message("chat", "two")), None, "a is still there");
    assert_eq!(rx_a.try_recv().unwrap().data, b"two");
    drop(rx_a);
    assert_eq!(
        d.deliver(message("chat", "three")),
        Some(wire_topic("chat").hash()),
        "the last subscriber went: leave"
    );
    assert!(!d.is_subscribed("chat"));
    assert_eq!(d.deliver(message("nobody", "x")), None);
}

#[test]
fn a_slow_subscriber_misses_messages_but_stays() {
    let mut d = delivery(10.0, 10);
    let ((_, mut rx), _) = d.handle_subscribe("chat").unwrap();
    for _ in 0..SUBSCRIBER_BUFFER + 5 {
        assert_eq!(d.deliver(message("chat", "x")), None);
    }
    assert!(d.is_subscribed("chat"));
    let mut got = 0;
    while rx.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, SUBSCRIBER_BUFFER);
}

#[test]
fn a_good_message_is_accepted_with_its_envelope_unwrapped() {
    let mut d = delivery(10.0, 10);
    let author = PeerId::random();
    let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let data = encode(b"hello", sent);
    let received = SystemTime::now();
    let (verdict, message) = d.handle_message(
        &author,
        incoming(Some(author), wire_topic("chat").hash(), data),
        Instant::now(),
        received,
    );
    assert_eq!(verdict, MessageAcceptance::Accept);
    assert_eq!(
        message,
        Some(Message {
            topic: "chat".into(),
            from: author,
            sent_at: sent,
            received_at: received,
            data: b"hello".to_vec(),
        })
    );
}

#[test]
fn unsigned_foreign_malformed_and_oversized_messages_are_rejected() {
    let mut d = delivery(10.0, 10);
    let author = PeerId::random();
    let now = Instant::now();
    let good = encode(b"x", SystemTime::now());
    let chat = wire_topic("chat").hash();
    let oversized = encode(&vec![0; MAX_MESSAGE_BYTES + 1], SystemTime::now());
    for bad in [
        incoming(None, chat.clone(), good.clone()),
        incoming(Some(author), IdentTopic::new("chat").hash(), good),
        incoming(Some(author), chat.clone(), b"not an envelope".to_vec()),
        incoming(Some(author), chat, oversized),
    ] {
        let (verdict, message) = d.handle_message(&author, bad, now, SystemTime::now());
        assert_eq!(verdict, MessageAcceptance::Reject);
        assert!(message.is_none());
    }
}

#[test]
fn each_author_has_its_own_rate_limit() {
    let mut d = delivery(1.0, 2);
    let (flooder, other, relay) = (PeerId::random(), PeerId::random(), PeerId::random());
    let now = Instant::now();
    let verdict = |d: &mut Delivery, via: PeerId, author: PeerId, at: Instant| {
        d.handle_message(&via, text(author, "chat", "hi"), at, SystemTime::now())
            .0
    };
    assert_eq!(
        verdict(&mut d, flooder, flooder, now),
        MessageAcceptance::Accept
    );
    assert_eq!(
        verdict(&mut d, flooder, flooder, now),
        MessageAcceptance::Accept
    );
    // Over the burst: rejected from the author itself, ignored when
    // relayed (the relay is not to blame).
    assert_eq!(
        verdict(&mut d, flooder, flooder, now),
        MessageAcceptance::Reject
    );
    assert_eq!(
        verdict(&mut d, relay, flooder, now),
        MessageAcceptance::Ignore
    );
    // Another author is not held back by the flooder.
    assert_eq!(
        verdict(&mut d, relay, other, now),
        MessageAcceptance::Accept
    );
    // A second later the flooder has one more token.
    let later = now + Duration::from_secs(1);
    assert_eq!(
        verdict(&mut d, flooder, flooder, later),
        MessageAcceptance::Accept
    );
    assert_eq!(
        verdict(&mut d, flooder, flooder, later),
        MessageAcceptance::Reject
    );
}

/// The verdict for a message signed by `author` and delivered by `via`.
fn verdict(d: &mut Delivery, via: PeerId, author: PeerId, at: Instant) -> MessageAcceptance {
    d.handle_message(&via, text(author, "chat", "hi"), at, SystemTime::now())
        .0
}

#[test]
fn a_fresh_author_per_message_is_held_to_the_delivering_peers_limit() {
    // 1 a second and 2 at once per author; 4 a second and 8 at once per peer.
    let mut d = delivery(1.0, 2);
    let (flooder, other) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let verdicts: Vec<_> = (0..20)
        .map(|_| verdict(&mut d, flooder, PeerId::random(), now))
        .collect();
    let accepted = verdicts
        .iter()
        .filter(|v| **v == MessageAcceptance::Accept)
        .count();
    assert_eq!(accepted, 8, "the per-peer burst, not 20 fresh authors");
    // Over it: rejected, so gossipsub scores the flooder down, even
    // though no author went over its own limit.
    assert!(verdicts[8..]
        .iter()
        .all(|v| *v == MessageAcceptance::Reject));
    // Another peer is not held back by the flooder.
    assert_eq!(
        verdict(&mut d, other, PeerId::random(), now),
        MessageAcceptance::Accept
    );
    // A second later the flooder has 4 more (the per-peer rate).
    let later = now + Duration::from_secs(1);
    let accepted = (0..20)
        .filter(|_| verdict(&mut d, flooder, PeerId::random(), later) == MessageAcceptance::Accept)
        .count();
    assert_eq!(accepted, 4);
}

#[test]
fn a_relay_forwarding_many_authors_within_its_limit_is_never_refused() {
    let mut d = delivery(1.0, 2);
    let relay = PeerId::random();
    let authors: Vec<_> = (0..4).map(|_| PeerId::random()).collect();
    let t0 = Instant::now();
    // Four authors at their full rate (1 a second each), all through
    // one relay, for a minute: 4 a second from the relay.
    for second in 0..60u64 {
        for (i, author) in authors.iter().enumerate() {
            let at = t0 + Duration::from_millis(1000 * second + 250 * i as u64);
            assert_eq!(
                verdict(&mut d, relay, *author, at),
                MessageAcceptance::Accept,
                "second {second}, author {i}"
            );
        }
    }
}

#[test]
fn relayed_messages_ignored_for_their_author_still_count_against_the_peer() {
    let mut d = delivery(1.0, 2);
    let (relay, author) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let verdicts: Vec<_> = (0..8)
        .map(|_| verdict(&mut d, relay, author, now))
        .collect();
    assert_eq!(verdicts[..2], [MessageAcceptance::Accept; 2]);
    assert_eq!(verdicts[2..], [MessageAcceptance::Ignore; 6]);
    // The relay has handed over its 8 at once: the next is rejected
    // whoever signed it.
    assert_eq!(
        verdict(&mut d, relay, PeerId::random(), now),
        MessageAcceptance::Reject
    );
}

#[test]
fn the_per_peer_limit_is_never_below_the_per_author_one() {
    let author_rate = Rate {
        per_second: 10.0,
        burst: 10,
    };
    let low = Rate {
        per_second: 1.0,
        burst: 1,
    };
    let mut d = Delivery::new(author_rate, low);
    let author = PeerId::random();
    let now = Instant::now();
    for i in 0..10 {
        assert_eq!(
            verdict(&mut d, author, author, now),
            MessageAcceptance::Accept,
            "message {i} of the author's own burst"
        );
    }
    assert_eq!(
        verdict(&mut d, author, author, now),
        MessageAcceptance::Reject
    );
}

#[test]
fn publishing_checks_the_topic_and_the_size() {
    let topic = Delivery::check_publish("chat", b"hi").unwrap();
    assert_eq!(topic.hash(), wire_topic("chat").hash());
    assert!(Delivery::check_publish("chat", &vec![0; MAX_MESSAGE_BYTES]).is_ok());
    assert!(matches!(
        Delivery::check_publish("chat", &vec![0; MAX_MESSAGE_BYTES + 1]),
        Err(Error::MessageTooLarge { size, max }) if size == MAX_MESSAGE_BYTES + 1 && max == MAX_MESSAGE_BYTES
    ));
    assert!(matches!(
        Delivery::check_publish("a b", b"hi"),
        Err(Error::BadTopic(_))
    ));
}

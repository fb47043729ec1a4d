use super::*;

/// Runs of payload, each with whether it is stderr.
type Runs = Vec<(bool, Vec<u8>)>;

/// The status, the payload and whether the body ended, decoded from a response fed in pieces
/// of `step` bytes.
fn decode(head_and_body: &[u8], step: usize) -> Result<(u16, Runs, bool), String> {
    let (head, at) = Head::parse(head_and_body)?.ok_or("no head")?;
    let mut body = head.body();
    let mut demux = Demux::new(head.multiplexed);
    let mut out: Runs = Vec::new();
    let mut push = |stderr: bool, part: &[u8]| match out.last_mut() {
        Some((s, b)) if *s == stderr => b.extend_from_slice(part),
        _ => out.push((stderr, part.to_vec())),
    };
    let mut failed = None;
    for piece in head_and_body[at..].chunks(step) {
        body.feed(piece, &mut |p| {
            if let Err(e) = demux.feed(p, &mut push) {
                failed.get_or_insert(e);
            }
        })?;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let done = body.done() || body.eof().is_ok();
    demux.finish(&mut push);
    Ok((head.status, out, done))
}

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn chunked(parts: &[&[u8]]) -> Vec<u8> {
    let mut b =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for p in parts {
        b.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        b.extend_from_slice(p);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"0\r\n\r\n");
    b
}

#[test]
fn frames_in_chunks_come_out_the_same_however_the_bytes_are_split() {
    let f1 = frame(1, b"2026-11-22T10:00:00Z hello\n");
    let f2 = frame(2, b"2026-11-22T10:00:01Z oops\n");
    let f3 = frame(1, b"2026-11-22T10:00:02Z again\n");
    // One frame split over two chunks, two frames in one chunk.
    let joined = [f2.clone(), f3.clone()].concat();
    let wire = chunked(&[&f1[..5], &f1[5..], &joined]);
    let want = vec![
        (false, b"2026-11-22T10:00:00Z hello\n".to_vec()),
        (true, b"2026-11-22T10:00:01Z oops\n".to_vec()),
        (false, b"2026-11-22T10:00:02Z again\n".to_vec()),
    ];
    for step in 1..=wire.len() {
        assert_eq!(decode(&wire, step).unwrap(), (200, want.clone(), true), "step {step}");
    }
    // Each chunk (one flush of the engine's) is counted once, however it is split.
    let (_, at) = Head::parse(&wire).unwrap().unwrap();
    for step in [1, 7, wire.len()] {
        let mut body = Body::Chunked(Chunk::Size(Vec::new()));
        let counted: usize = wire[at..].chunks(step).map(|p| body.feed(p, &mut |_| {}).unwrap()).sum();
        assert_eq!(counted, 3, "step {step}");
    }
}

#[test]
fn a_tty_log_has_no_frames() {
    let wire = chunked(&[b"plain text from a tty\r\n", b"more\r\n"]);
    let (_, out, done) = decode(&wire, 3).unwrap();
    assert_eq!(out, vec![(false, b"plain text from a tty\r\nmore\r\n".to_vec())]);
    assert!(done);
    // Shorter than a frame header: still shown.
    let (_, out, _) = decode(&chunked(&[b"hi\n"]), 1).unwrap();
    assert_eq!(out, vec![(false, b"hi\n".to_vec())]);
}

#[test]
fn the_engine_saying_multiplexed_is_believed() {
    let mut wire =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.docker.multiplexed-stream\r\nContent-Length: 12\r\n\r\n"
            .to_vec();
    wire.extend_from_slice(&frame(2, b"abcd"));
    assert_eq!(decode(&wire, 2).unwrap(), (200, vec![(true, b"abcd".to_vec())], true));
}

#[test]
fn a_body_to_the_end_of_the_connection() {
    let mut wire = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    wire.extend_from_slice(&frame(1, b"x\n"));
    let (_, out, done) = decode(&wire, 4).unwrap();
    assert_eq!(out, vec![(false, b"x\n".to_vec())]);
    assert!(done);
    // A chunked body cut short is not a clean end.
    let mut body = Body::Chunked(Chunk::Data(5));
    body.feed(b"ab", &mut |_| {}).unwrap();
    assert!(body.eof().is_err());
}

#[test]
fn a_huge_claimed_length_allocates_nothing_and_passes_bytes_through() {
    let mut d = Demux::new(Some(true));
    let mut seen = 0;
    d.feed(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], &mut |_, p| seen += p.len()).unwrap();
    d.feed(&vec![b'a'; 100_000], &mut |_, p| seen += p.len()).unwrap();
    assert_eq!(seen, 100_000);
    assert_eq!(d.frame, Some((false, 0xffff_ffff - 100_000)));
}

#[test]
fn broken_framing_is_an_error_not_a_panic() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for bad in [&b"zz\r\n"[..], b"\r\n", b"ffffffffffffffffffff\r\n", b"3\r\nabcXY"] {
        let wire = [&head[..], bad].concat();
        assert!(decode(&wire, 1).is_err(), "{bad:?}");
    }
    let long = [&head[..], &vec![b'1'; 5000]].concat();
    assert!(decode(&long, 7).unwrap_err().contains("longer than"));
    // A multiplexed stream whose next header is not one.
    let mut d = Demux::new(Some(true));
    assert!(d.feed(&[9, 9, 9, 9, 0, 0, 0, 1], &mut |_, _| {}).is_err());
    // Not HTTP at all.
    assert!(Head::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    assert!(Head::parse(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n").is_err());
    assert_eq!(Head::parse(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
}

#[test]
fn an_error_status_is_read() {
    let (head, at) = Head::parse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}").unwrap().unwrap();
    assert_eq!((head.status, at), (404, 45));
    assert_eq!(head.body(), Body::Length(2));
}

#[test]
fn a_head_read_in_pieces_gives_the_body_bytes_that_came_with_it_and_has_a_cap() {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    for step in [1, 2, 7, answer.len()] {
        let mut r = HeadReader::default();
        let mut got = None;
        for piece in answer.chunks(step) {
            let mut rest_of_piece = None;
            if got.is_none() {
                got = r.push(piece).unwrap();
            } else {
                rest_of_piece = Some(piece);
            }
            if let (Some((_, rest)), Some(p)) = (got.as_mut(), rest_of_piece) {
                rest.extend_from_slice(p);
            }
        }
        let (head, rest) = got.expect("a whole head");
        assert_eq!((head.status, rest.as_slice()), (200, &b"hello"[..]), "step {step}");
    }
    // A head that never ends is refused once it passes the cap, not kept growing.
    let mut r = HeadReader::default();
    let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    assert_eq!(r.push(b"HTTP/1.1 200 OK\r\n"), Ok(None));
    let refused = (0..2000).find_map(|_| r.push(line).err()).expect("refused");
    assert!(refused.contains("longer than"), "{refused}");
    assert_eq!(
        get_request("/nodes"),
        "GET /nodes HTTP/1.1\r\nHost: docker\r\nUser-Agent: stackdeck\r\nConnection: close\r\n\r\n"
    );
}

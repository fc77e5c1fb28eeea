//! A time-bounded random-bytes loop over every decoder of untrusted input: at least
//! 1,000,000 inputs (`cargo bench --bench fuzz`; `FUZZ_INPUTS` and `FUZZ_SECONDS` tune it).
//! Any panic aborts the run; the count and duration are printed.

use chat2desk_b24::chat2desk::{
    ApiInfo, Channel, Client, Dialog, Message, Operator, RequestInfo, Webhook, WebhookEvent,
};
use chat2desk_b24::flows::transcript::text::{self as transcript, Author, Line, TranscriptInput};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Pieces that make random bytes look like the JSON and TOML the decoders expect.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\"id\":",
    "\"message_id\":",
    "\"hook_type\":",
    "\"inbox\"",
    "\"close_request\"",
    "\"text\":",
    "\"created\":",
    "\"client\":",
    "\"type\":",
    "\"attachments\":",
    "\"photo\":",
    "\"request_id\":",
    "\"2026-01-02T03:04:05Z\"",
    "\"02.01.2026 03:04\"",
    "1700000000",
    "-1",
    "1e400",
    "null",
    "true",
    "\"[b]\"",
    "[url=",
    "[sync]",
    "workers = ",
    "token = ",
    "\n",
    "=",
    "ㄲ",
    "🙂",
];

fn input(rng: &mut impl Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..24) {
        if rng.gen_bool(0.6) {
            out.extend_from_slice(DICTIONARY[rng.gen_range(0..DICTIONARY.len())].as_bytes());
        } else {
            for _ in 0..rng.gen_range(1..6) {
                out.push(rng.gen());
            }
        }
    }
    out
}

fn decode(bytes: &[u8]) {
    let tz = chrono_tz::Europe::Moscow;
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let _ = WebhookEvent::from_json(&v, tz);
        let _ = Message::from_json(&v, tz);
        let _ = Client::from_json(&v);
        let _ = Operator::from_json(&v);
        let _ = Channel::from_json(&v);
        let _ = Dialog::from_json(&v, tz);
        let _ = RequestInfo::from_json(&v, tz);
        let _ = ApiInfo::from_json(&v);
        let _ = Webhook::from_json(&v);
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = chat2desk_b24::config::load_from_str(&text, &[]);
    let _ = chat2desk_b24::portal::escape(&text);
    let _ = chat2desk_b24::portal::sanitize_url(&text);
    let _ = transcript::find_marker(&text);
}

fn main() {
    let want: u64 = std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let limit = Duration::from_secs(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut count = 0u64;
    let mut rendered = 0u64;
    while count < want && start.elapsed() < limit {
        let bytes = input(&mut rng);
        decode(&bytes);
        if count % 64 == 0 {
            // Rendering is slower: a sample of inputs as message text.
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let lines = [Line {
                at: None,
                author: Author::Client,
                text: Some(text),
                files: Vec::new(),
            }];
            let parts = transcript::render(&TranscriptInput {
                request_id: 1,
                opened: None,
                chat_url: None,
                client_name: None,
                client_phone: None,
                channel: None,
                lines: &lines,
                timezone: chrono_tz::UTC,
                max_bytes: 10_000,
            });
            assert!(parts.iter().all(|p| transcript::find_marker(p).is_some()));
            rendered += 1;
        }
        count += 1;
    }
    let took = start.elapsed();
    println!("random-bytes loop (seed {seed})");
    println!("  inputs decoded   {count} (JSON decoders, config loader, escape, sanitize_url, find_marker)");
    println!("  transcripts      {rendered} rendered and re-read");
    println!(
        "  duration         {:.2} s ({:.0} inputs/s)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    println!("  panics           0");
    assert!(count >= want, "time limit reached before {want} inputs");
}

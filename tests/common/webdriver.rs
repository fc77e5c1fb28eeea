//! A minimal W3C WebDriver client over reqwest for headless Chromium driven by
//! `chromedriver` (the distribution's `chromium` and `chromium-driver`): a session, navigation,
//! frames, elements, their text and attributes, screenshots. Under `CI=true` a missing
//! Chromium fails the test; elsewhere [`Browser::start`] answers `None` with a message.

use super::{free_port, KillOnDrop};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session; the driver is killed on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: KillOnDrop,
}

/// An element of the current frame.
#[derive(Debug, Clone)]
pub struct Element(Value);

fn find_program(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let found = Command::new("which").arg(name).output().ok()?;
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        (found.status.success() && !path.is_empty()).then_some(path)
    })
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session; `None` (with a message) when
    /// they are not installed, except under `CI=true`, where that is a failure.
    pub async fn start() -> Option<Browser> {
        let driver = find_program(&["chromedriver"]);
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let message = "headless Chromium is not installed (apt-get install chromium chromium-driver, or scripts/install-ci-deps.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("skipped: {message}");
            return None;
        };
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = KillOnDrop(child);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,900"
            ]}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a session");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Some(Browser {
            http,
            session: format!("{base}/session/{session}"),
            _driver: driver,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        answer["value"].clone()
    }

    /// Opens `url` (waits for the page's load).
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The elements matching a CSS `selector` in the current frame.
    pub async fn find_all(&self, selector: &str) -> Vec<Element> {
        let body = json!({"using": "css selector", "value": selector});
        match self
            .call(reqwest::Method::POST, "/elements", Some(body))
            .await
        {
            Value::Array(items) => items.into_iter().map(Element).collect(),
            _ => Vec::new(),
        }
    }

    /// Waits up to 10 s for an element matching `selector`.
    pub async fn wait_for(&self, selector: &str) -> Element {
        for _ in 0..100 {
            if let Some(found) = self.find_all(selector).await.into_iter().next() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {selector} appeared");
    }

    /// Switches into the iframe `frame`.
    pub async fn enter_frame(&self, frame: &Element) {
        let body = json!({"id": frame.0});
        self.call(reqwest::Method::POST, "/frame", Some(body)).await;
    }

    /// Back to the top page.
    pub async fn leave_frames(&self) {
        self.call(reqwest::Method::POST, "/frame", Some(json!({"id": null})))
            .await;
    }

    fn element_path(element: &Element, tail: &str) -> String {
        let id = element.0[ELEMENT].as_str().unwrap_or_default();
        format!("/element/{id}{tail}")
    }

    /// The element's visible text.
    pub async fn text(&self, element: &Element) -> String {
        let path = Self::element_path(element, "/text");
        let value = self.call(reqwest::Method::GET, &path, None).await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// An attribute of the element.
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let path = Self::element_path(element, &format!("/attribute/{name}"));
        let value = self.call(reqwest::Method::GET, &path, None).await;
        value.as_str().map(str::to_string)
    }

    /// Types `text` into the element (W3C "Element Send Keys").
    pub async fn type_text(&self, element: &Element, text: &str) {
        let path = Self::element_path(element, "/value");
        self.call(reqwest::Method::POST, &path, Some(json!({"text": text})))
            .await;
    }

    /// Clicks the element (an `<option>` is chosen by clicking it).
    pub async fn click(&self, element: &Element) {
        let path = Self::element_path(element, "/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// A PNG screenshot of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        decode_base64(value.as_str().unwrap_or_default())
    }
}

/// Standard base64 (the screenshot's encoding).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let bits =
            chunk.iter().fold(0u32, |acc, s| (acc << 6) | u32::from(*s)) << (6 * (4 - chunk.len()));
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

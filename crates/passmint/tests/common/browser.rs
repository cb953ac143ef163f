//! A real headless Chromium for the web pages' tests (Debian's `chromium`, driven over the
//! DevTools protocol with `chromiumoxide`), recording every request a page makes so a test can
//! prove none leaves the origin.
//!
//! ```ignore
//! let Some(browser) = Browser::launch().await else { return }; // skipped locally without chromium
//! let page = browser.open(&url).await;
//! assert_eq!(page.text(".pm-primary .pm-value").await, "120");
//! assert!(page.requested_urls().iter().all(|u| u.starts_with(&origin) || u.starts_with("data:")));
//! page.screenshot("docs/screenshots/holder-storeCard.png").await;
//! ```
//!
//! Without chromium the tests skip with a message, except under CI (`CI` set) or with
//! `PASSMINT_REQUIRE_BROWSER=1`, where they fail: a browser test that silently runs nothing
//! proves nothing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::browser::{Browser as Chromium, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::network::{EnableParams, EventRequestWillBeSent};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt;

/// Where Debian puts chromium, or `PASSMINT_CHROMIUM`.
fn executable() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PASSMINT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("PASSMINT_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// A running headless Chromium with its own profile directory.
pub struct Browser {
    inner: Chromium,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium, or returns `None` (with a message) when it isn't installed and
    /// the run doesn't require it. Panics when it is required and missing.
    pub async fn launch() -> Option<Self> {
        let Some(executable) = executable() else {
            let message = "chromium is not installed (apt-get install chromium, or set PASSMINT_CHROMIUM)";
            if required() {
                panic!("browser tests are required here (CI or PASSMINT_REQUIRE_BROWSER=1): {message}");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        };
        let profile = tempfile::tempdir().unwrap();
        let config = BrowserConfig::builder()
            .chrome_executable(executable)
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(1280, 900)
            .viewport(Viewport {
                width: 1280,
                height: 900,
                device_scale_factor: Some(1.0),
                emulating_mobile: false,
                is_landscape: true,
                has_touch: false,
            })
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
            ])
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let (inner, mut events) = Chromium::launch(config)
            .await
            .unwrap_or_else(|e| panic!("chromium did not start: {e}"));
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Some(Self {
            inner,
            handler,
            _profile: profile,
        })
    }

    /// Opens `url` in a new tab (desktop size) and waits for it to load.
    pub async fn open(&self, url: &str) -> Page {
        self.open_sized(url, 1280, 900, false).await
    }

    /// Opens `url` as a phone would show it (390×844 CSS pixels, 3× scale, touch).
    pub async fn open_phone(&self, url: &str) -> Page {
        self.open_sized(url, 390, 844, true).await
    }

    async fn open_sized(&self, url: &str, width: i64, height: i64, mobile: bool) -> Page {
        let page = self.inner.new_page("about:blank").await.unwrap();
        page.execute(
            SetDeviceMetricsOverrideParams::builder()
                .width(width)
                .height(height)
                .device_scale_factor(if mobile { 2.0 } else { 1.0 })
                .mobile(mobile)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        page.execute(EnableParams::default()).await.unwrap();
        let mut sent = page.event_listener::<EventRequestWillBeSent>().await.unwrap();
        let seen = requests.clone();
        let recorder = tokio::spawn(async move {
            while let Some(event) = sent.next().await {
                seen.lock().unwrap().push(event.request.url.clone());
            }
        });
        page.goto(url).await.unwrap();
        page.wait_for_navigation().await.unwrap();
        Page {
            inner: page,
            requests,
            _recorder: recorder,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The child is killed when `inner` drops (chromiumoxide kills its process on drop).
        self.handler.abort();
    }
}

/// One tab.
pub struct Page {
    pub inner: chromiumoxide::Page,
    requests: Arc<Mutex<Vec<String>>>,
    _recorder: tokio::task::JoinHandle<()>,
}

impl Page {
    /// The visible text of the first element matching `selector` (panics if none).
    pub async fn text(&self, selector: &str) -> String {
        self.element(selector)
            .await
            .inner_text()
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// The visible texts of every element matching `selector`.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.inner.find_elements(selector).await.unwrap_or_default() {
            out.push(element.inner_text().await.unwrap().unwrap_or_default());
        }
        out
    }

    /// Whether an element matches `selector`.
    pub async fn has(&self, selector: &str) -> bool {
        self.inner.find_element(selector).await.is_ok()
    }

    /// Attribute `name` of the first element matching `selector`.
    pub async fn attribute(&self, selector: &str, name: &str) -> Option<String> {
        self.element(selector).await.attribute(name).await.unwrap()
    }

    /// Clicks the first element matching `selector` and waits for any navigation it starts.
    pub async fn click(&self, selector: &str) {
        self.element(selector).await.click().await.unwrap();
        let _ = self.inner.wait_for_navigation().await;
    }

    /// Types `value` into the form field matching `selector` (after focusing it).
    pub async fn fill(&self, selector: &str, value: &str) {
        let element = self.element(selector).await;
        element.focus().await.unwrap();
        element.type_str(value).await.unwrap();
    }

    /// The page's current HTML.
    pub async fn html(&self) -> String {
        self.inner.content().await.unwrap()
    }

    /// The page's URL now.
    pub async fn url(&self) -> String {
        self.inner.url().await.unwrap().unwrap_or_default()
    }

    /// Saves a full-page PNG screenshot to `path` (its folders are created).
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let png = self
            .inner
            .screenshot(ScreenshotParams::builder().full_page(true).build())
            .await
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Every URL the page requested so far (documents, styles, images, `data:` URLs, …).
    pub fn requested_urls(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The requested URLs that are neither `origin` nor inline `data:` (should be empty).
    pub fn foreign_requests(&self, origin: &str) -> Vec<String> {
        let origin = origin.trim_end_matches('/');
        self.requested_urls()
            .into_iter()
            .filter(|u| !(u.starts_with("data:") || *u == origin || u.starts_with(&format!("{origin}/"))))
            .collect()
    }

    async fn element(&self, selector: &str) -> chromiumoxide::Element {
        self.inner
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("no element matches {selector:?}: {e}"))
    }
}

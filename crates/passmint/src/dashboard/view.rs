//! What the pages show: the askama templates (`templates/dashboard/`) and the plain values
//! they are filled with. Everything is escaped by askama except the fragments marked `|safe`:
//! the pass preview's HTML, its scoped CSS rules (both built by `preview/` from parsed
//! values), the QR code and the chart (SVG built here from numbers).
use askama::Template;

/// Every page's frame: title, navigation, the CSP nonce of its `<style>`, the CSRF token of
/// its forms, a notice or the problems of the last form.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub title: String,
    pub active: &'static str,
    pub nonce: String,
    pub csrf: String,
    pub signed_in: bool,
    pub css: String,
    pub notice: Option<String>,
    pub error_title: String,
    pub errors: Vec<String>,
}

impl Chrome {
    pub fn bare(title: &str) -> Self {
        Self {
            title: title.to_string(),
            nonce: nonce(),
            ..Default::default()
        }
    }

    pub fn signed_in(title: impl Into<String>, active: &'static str, csrf: &str) -> Self {
        Self {
            title: title.into(),
            active,
            nonce: nonce(),
            csrf: csrf.to_string(),
            signed_in: true,
            ..Default::default()
        }
    }
}

fn nonce() -> String {
    use base64::Engine;
    let mut raw = [0u8; 16];
    rand::fill(&mut raw);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix millisecond time.
pub fn when(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(&format).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
pub struct ErrorPage<'a> {
    pub c: &'a Chrome,
    pub heading: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub struct LoginPage<'a> {
    pub c: &'a Chrome,
    pub next: &'a str,
}

/// What the upload form shows again after a refused upload (never the key material).
#[derive(Debug, Clone, Default)]
pub struct UploadForm {
    pub name: String,
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
}

#[derive(Debug, Clone)]
pub struct TemplateRow {
    pub id: String,
    pub name: String,
    pub pass_type: String,
    pub team: String,
    pub file_name: String,
    pub revision: i64,
    pub passes: i64,
    pub installed: i64,
    pub expires: String,
    pub expiry_class: &'static str,
    pub rollout: String,
}

#[derive(Template)]
#[template(path = "dashboard/templates.html")]
pub struct TemplatesPage<'a> {
    pub c: &'a Chrome,
    pub rows: Vec<TemplateRow>,
    pub more: Option<i64>,
    pub form: UploadForm,
    pub upload_action: String,
    pub upload_label: &'static str,
}

pub struct Preview {
    pub front: String,
    pub back: String,
}

pub struct RolloutBar {
    pub total: i64,
    pub checked: i64,
}

#[derive(Debug, Clone, Default)]
pub struct StatsView {
    pub passes: i64,
    pub voided: i64,
    pub installed: i64,
    pub devices: i64,
    pub pushes_sent: i64,
    pub pushes_failed: i64,
}

#[derive(Debug, Clone)]
pub struct PassRow {
    pub id: String,
    pub serial: String,
    pub template_id: String,
    pub template_name: String,
    pub registrations: i64,
    pub voided: bool,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "dashboard/template.html")]
pub struct TemplatePage<'a> {
    pub c: &'a Chrome,
    pub t: TemplateRow,
    pub preview: Option<Preview>,
    pub preview_problem: String,
    pub rollout: Option<RolloutBar>,
    pub s: StatsView,
    pub chart: String,
    pub payload: String,
    pub placeholders: Vec<String>,
    pub passes: Vec<PassRow>,
    pub form: UploadForm,
    pub upload_action: String,
    pub upload_label: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/passes.html")]
pub struct PassesPage<'a> {
    pub c: &'a Chrome,
    pub serial: String,
    pub searched: bool,
    pub rows: Vec<PassRow>,
}

pub struct PassView {
    pub id: String,
    pub serial: String,
    pub template_id: String,
    pub template_name: String,
    pub pass_type: String,
    pub voided: bool,
    pub created: String,
    pub updated: String,
    pub tag: i64,
    pub payload: String,
}

pub struct RegistrationRow {
    pub device: String,
    pub created: String,
    pub updated: String,
}

pub struct TimelineRow {
    pub at: String,
    pub kind: String,
    pub label: &'static str,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "dashboard/pass.html")]
pub struct PassPage<'a> {
    pub c: &'a Chrome,
    pub p: PassView,
    pub preview: Option<Preview>,
    pub preview_problem: String,
    pub share_url: Option<String>,
    pub share_qr: String,
    pub registrations: Vec<RegistrationRow>,
    pub timeline: Vec<TimelineRow>,
    pub cap: i64,
}

pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub count: i64,
    pub request_id: String,
    pub data: String,
}

#[derive(Template)]
#[template(path = "dashboard/events.html")]
pub struct EventsPage<'a> {
    pub c: &'a Chrome,
    pub event_type: String,
    pub rows: Vec<EventRow>,
    pub older: Option<i64>,
}

pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub template: String,
    pub description: String,
    pub created: String,
}

pub struct DeliveryRow {
    pub at: String,
    pub kind: String,
    pub attempt: i64,
    pub status: String,
    pub error: String,
    pub duration_ms: i64,
    pub next: String,
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
pub struct WebhooksPage<'a> {
    pub c: &'a Chrome,
    pub rows: Vec<WebhookRow>,
    pub selected: Option<String>,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "dashboard/push.html")]
pub struct PushPage<'a> {
    pub c: &'a Chrome,
    pub depth: i64,
    pub failing: Vec<(String, i64)>,
    pub paused: Vec<(String, String)>,
    pub recent: Vec<EventRow>,
}

/// What a timeline entry's type means, in words.
pub fn timeline_label(kind: &str) -> &'static str {
    match kind {
        "created" => "Issued",
        "updated" => "Updated (new tag)",
        "voided" => "Voided",
        "unvoided" => "Made valid again",
        "downloaded" => "Downloaded",
        "registered" => "A device registered",
        "reregistered" => "A device registered again",
        "unregistered" => "A device unregistered",
        "installed" => "Installed (first device)",
        "uninstalled" => "Uninstalled (no device left)",
        "push" => "Push to a device",
        "serials" => "A device asked what changed",
        "fetched" => "A device fetched the pass",
        "log" => "A device logged",
        _ => "Other",
    }
}

/// One day of the stats chart.
pub struct ChartDay<'a> {
    pub date: &'a str,
    pub issued: i64,
    pub installed: i64,
    pub downloads: i64,
}

/// The daily stats as an inline SVG bar chart (issued, installed, downloads per day), drawn
/// from numbers only.
pub fn chart_svg(days: &[ChartDay<'_>]) -> String {
    const W: i64 = 600;
    const H: i64 = 160;
    const TOP: i64 = 16;
    const BOTTOM: i64 = 24;
    let plot = H - TOP - BOTTOM;
    let max = days
        .iter()
        .flat_map(|d| [d.issued, d.installed, d.downloads])
        .max()
        .unwrap_or(0)
        .max(1);
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = W / n;
    let bar = (slot / 4).max(1);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" class=\"bars\" role=\"img\" \
         aria-label=\"Passes issued, installed and downloaded per day\">"
    );
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"0\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\"/>",
        y = TOP + plot
    ));
    for (i, d) in days.iter().enumerate() {
        let x0 = i64::try_from(i).unwrap_or(0) * slot + slot / 8;
        for (k, (class, value)) in [
            ("issued", d.issued),
            ("installed", d.installed),
            ("downloads", d.downloads),
        ]
        .into_iter()
        .enumerate()
        {
            let h = value * plot / max;
            if h == 0 {
                continue;
            }
            let x = x0 + i64::try_from(k).unwrap_or(0) * bar;
            let y = TOP + plot - h;
            svg.push_str(&format!(
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\"><title>{} {class}: {value}</title></rect>",
                escape_text(d.date)
            ));
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<text class=\"label\" x=\"0\" y=\"{H}\">{}</text><text class=\"label end\" x=\"{W}\" y=\"{H}\">{}</text>",
            escape_text(first.date),
            escape_text(last.date)
        ));
    }
    svg.push_str(&format!(
        "<text class=\"label\" x=\"0\" y=\"12\">max {max}</text>"
    ));
    svg.push_str(
        "<g class=\"legend\"><rect class=\"issued\" x=\"380\" y=\"2\" width=\"10\" height=\"10\"/><text x=\"394\" y=\"11\">issued</text>\
         <rect class=\"installed\" x=\"450\" y=\"2\" width=\"10\" height=\"10\"/><text x=\"464\" y=\"11\">installed</text>\
         <rect class=\"downloads\" x=\"530\" y=\"2\" width=\"10\" height=\"10\"/><text x=\"544\" y=\"11\">downloads</text></g>",
    );
    svg.push_str("</svg>");
    svg
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_one_bar_per_nonzero_count_scaled_to_the_largest() {
        let days = [
            ChartDay {
                date: "2026-12-03",
                issued: 4,
                installed: 0,
                downloads: 2,
            },
            ChartDay {
                date: "2026-12-04",
                issued: 1,
                installed: 1,
                downloads: 0,
            },
        ];
        let svg = chart_svg(&days);
        assert_eq!(
            svg.matches("<rect class=\"issued\" x=").count(),
            3,
            "two bars and the legend"
        );
        assert!(svg.contains("2026-12-03 issued: 4"));
        assert!(svg.contains("max 4"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn times_show_as_utc_dates_and_times() {
        assert_eq!(when(1_796_342_400_000), "2026-12-04 00:00:00");
    }
}

//! The page: `assets/template.html` with the styles, Chart.js, the data and the page's script
//! put in at its four markers, so that the file needs nothing from the network.
//!
//! Chart.js (4.6.1, MIT, `assets/chart.umd.min.js`) draws the charts: a maintained library of
//! 210 kB that gives lines, bars, scatter points, tooltips and legends in any browser; a Rust
//! SVG plotter would have drawn static images and needed fonts measured at build time.

use crate::data::ReportData;

const TEMPLATE: &str = include_str!("../assets/template.html");
const STYLE: &str = include_str!("../assets/report.css");
const CHARTJS: &str = include_str!("../assets/chart.umd.min.js");
const SCRIPT: &str = include_str!("../assets/report.js");

/// The markers of the template, in the order they appear in it, with what replaces each.
fn parts(data: &str) -> [(&'static str, &str); 4] {
    [
        ("/*PACER:STYLE*/", STYLE),
        ("/*PACER:CHARTJS*/", CHARTJS),
        ("/*PACER:DATA*/", data),
        ("/*PACER:SCRIPT*/", SCRIPT),
    ]
}

/// The report page of `data`, whole.
pub fn render(data: &ReportData) -> String {
    let json = serde_json::to_string(data).expect("the report's data is plain JSON");
    // `<` occurs only inside JSON strings: written `\u003c`, no text of a prompt or an
    // answer can close the script element (`</script>`) or open a comment in it.
    let json = json.replace('<', "\\u003c");
    let parts = parts(&json);
    let mut page =
        String::with_capacity(TEMPLATE.len() + parts.iter().map(|(_, p)| p.len()).sum::<usize>());
    let mut rest = TEMPLATE;
    // The markers are found in the template only, in order: text put in is never searched.
    for (marker, part) in parts {
        let (before, after) = rest
            .split_once(marker)
            .expect("the template holds each marker once, in order");
        page.push_str(before);
        page.push_str(part);
        rest = after;
    }
    page.push_str(rest);
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Answer, PromptView};

    #[test]
    fn untrusted_text_cannot_close_the_script() {
        let mut data = ReportData::default();
        data.prompts.push(PromptView {
            prompt_id: "p</script><script>alert(1)</script>".into(),
            prompt: Some("/*PACER:SCRIPT*/ <!-- x".into()),
            answers: vec![Answer {
                text: Some("</script>".into()),
                ..Answer::default()
            }],
            ..PromptView::default()
        });
        let page = render(&data);
        assert_eq!(page.matches("</script>").count(), 4, "the page's own four");
        assert!(!page.contains("<!-- x"));
        let start = page.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let back: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(back["prompts"][0]["prompt"], "/*PACER:SCRIPT*/ <!-- x");
        assert_eq!(back["prompts"][0]["answers"][0]["text"], "</script>");
        // The page's script follows the data once.
        assert_eq!(page.matches(SCRIPT).count(), 1);
    }
}

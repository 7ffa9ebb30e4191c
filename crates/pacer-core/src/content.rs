//! What a message says: text, or a list of parts (text and images), and how each provider
//! bills an image's tokens.

use std::borrow::Cow;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// A message's content: plain text (by far the usual), or parts.
///
/// Serialized as OpenAI's chat format has it: a string, or a list of `{"type": "text",
/// "text"}` and `{"type": "image_url", "image_url": {"url", "detail"}}` objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Text.
    Text(String),
    /// Text and images, in order.
    Parts(Vec<Part>),
}

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

impl Content {
    /// The text, the text parts joined by a blank line where there are parts (images left
    /// out).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(text) => Cow::Borrowed(text),
            Content::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|part| match part {
                    Part::Text { text } => Some(text.as_str()),
                    Part::Image { .. } => None,
                });
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(one), None) => Cow::Borrowed(one),
                    (Some(first), Some(second)) => {
                        let mut joined = format!("{first}\n\n{second}");
                        for text in texts {
                            joined.push_str("\n\n");
                            joined.push_str(text);
                        }
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }

    /// The images, in order.
    pub fn images(&self) -> impl Iterator<Item = &Image> {
        let parts: &[Part] = match self {
            Content::Text(_) => &[],
            Content::Parts(parts) => parts,
        };
        parts.iter().filter_map(|part| match part {
            Part::Image { image_url } => Some(image_url),
            Part::Text { .. } => None,
        })
    }

    /// Whether any part is an image.
    pub fn has_images(&self) -> bool {
        self.images().next().is_some()
    }

    /// Whether there is nothing to say (no text, no part).
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(text) => text.is_empty(),
            Content::Parts(parts) => parts.is_empty(),
        }
    }
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or inline as a `data:` URL.
    #[serde(rename = "image_url")]
    Image {
        /// The image (named as OpenAI's chat format names it).
        image_url: Image,
    },
}

/// An image: an `https://` URL, or the image itself as a `data:<media type>;base64,...` URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Where the image is, or the image itself as a `data:` URL.
    pub url: String,
    /// OpenAI's `detail`: `low`, `high` or `auto` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a provider counts an image's tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageBilling {
    /// OpenAI's tile rule: 85 tokens, plus 170 per 512-pixel tile of the image scaled to fit
    /// 2048 × 2048 and then to 768 pixels on its short side (`detail: low` is 85 alone).
    OpenAi,
    /// Anthropic's: width × height / 750, of the image scaled to at most 1568 pixels on its
    /// long side and to the area of 1092 × 1092 (its table's largest unresized square).
    Anthropic,
    /// Gemini's: 258 tokens for an image of at most 384 × 384, else 258 per 768-pixel tile.
    Gemini,
}

impl Image {
    /// An image from its bytes, as a `data:` URL.
    pub fn from_bytes(media_type: &str, bytes: &[u8]) -> Self {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        Self {
            url: format!("data:{media_type};base64,{data}"),
            detail: None,
        }
    }

    /// The media type and the base64 data of an inline image; `None` for a URL.
    pub fn data(&self) -> Option<(&str, &str)> {
        let rest = self.url.strip_prefix("data:")?;
        let (media_type, data) = rest.split_once(',')?;
        let media_type = media_type.strip_suffix(";base64")?;
        Some((media_type, data))
    }

    /// The image's width and height, read from the first bytes of an inline image; `None`
    /// for a URL (Pacer never fetches one) or bytes it cannot read.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let (_, data) = self.data()?;
        // A few kilobytes hold the header of every common format; base64 decodes in groups
        // of four characters.
        let head = &data[..data.len().min(16 * 1024) / 4 * 4];
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(head)
            .ok()?;
        let size = imagesize::blob_size(&bytes).ok()?;
        Some((
            u32::try_from(size.width).ok()?,
            u32::try_from(size.height).ok()?,
        ))
    }

    /// The tokens the image is billed as under `billing`. An image whose size is unknown
    /// (a URL) is counted as a large one: the estimate errs high, as the limiter needs.
    pub fn tokens(&self, billing: ImageBilling) -> u64 {
        let size = self.dimensions();
        match billing {
            ImageBilling::OpenAi => {
                if self.detail.as_deref() == Some("low") {
                    return 85;
                }
                let (width, height) = size.unwrap_or((2048, 2048));
                openai_tiles(width, height) * 170 + 85
            }
            ImageBilling::Anthropic => {
                let (width, height) = size.unwrap_or((1568, 1568));
                anthropic_tokens(width, height)
            }
            ImageBilling::Gemini => {
                let (width, height) = size.unwrap_or((1536, 1536));
                if width <= 384 && height <= 384 {
                    258
                } else {
                    u64::from(width.div_ceil(768)) * u64::from(height.div_ceil(768)) * 258
                }
            }
        }
    }
}

/// The 512-pixel tiles OpenAI counts for an image of `width` × `height` at high detail.
fn openai_tiles(width: u32, height: u32) -> u64 {
    let (mut w, mut h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let fit = (2048.0 / w.max(h)).min(1.0);
    (w, h) = (w * fit, h * fit);
    let short = (768.0 / w.min(h)).min(1.0);
    (w, h) = ((w * short).floor(), (h * short).floor());
    ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
}

/// Anthropic's token count for an image of `width` × `height`, after its resizing.
fn anthropic_tokens(width: u32, height: u32) -> u64 {
    let (mut w, mut h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let long = (1568.0 / w.max(h)).min(1.0);
    (w, h) = (w * long, h * long);
    let area = (1092.0 * 1092.0 / (w * h)).sqrt().min(1.0);
    (w, h) = ((w * area).floor(), (h * area).floor());
    ((w * h) / 750.0).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a 1024 × 512 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x08, 0x06, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn reads_an_inline_images_size_and_bills_it_per_provider() {
        let image = Image::from_bytes("image/png", PNG);
        assert_eq!(image.data().unwrap().0, "image/png");
        assert_eq!(image.dimensions(), Some((1024, 512)));
        // OpenAI: 1024 × 512 fits 2048; short side 512 < 768 stays: 2 × 1 tiles.
        assert_eq!(image.tokens(ImageBilling::OpenAi), 85 + 2 * 170);
        // Anthropic: 1024 × 512 / 750 = 699.05.
        assert_eq!(image.tokens(ImageBilling::Anthropic), 700);
        // Gemini: 2 × 1 tiles of 768.
        assert_eq!(image.tokens(ImageBilling::Gemini), 2 * 258);
    }

    #[test]
    fn openai_tiles_follow_the_published_examples() {
        // OpenAI's own examples: 1024 × 1024 → 765 tokens; 2048 × 4096 → 1105.
        assert_eq!(openai_tiles(1024, 1024) * 170 + 85, 765);
        assert_eq!(openai_tiles(2048, 4096) * 170 + 85, 1105);
        let low = Image {
            url: "https://example.com/a.png".into(),
            detail: Some("low".into()),
        };
        assert_eq!(low.tokens(ImageBilling::OpenAi), 85);
    }

    #[test]
    fn anthropic_caps_large_images() {
        // Anthropic's table: 1092 × 1092 is about 1590 tokens.
        assert_eq!(anthropic_tokens(1092, 1092), 1590);
        assert!(anthropic_tokens(8000, 8000) <= 1590);
    }

    #[test]
    fn content_reads_as_a_string_or_parts() {
        let text: Content = serde_json::from_str("\"hi\"").unwrap();
        assert_eq!(text, Content::Text("hi".into()));
        let parts: Content = serde_json::from_str(
            r#"[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"b"}]"#,
        )
        .unwrap();
        assert_eq!(parts.text(), "a\n\nb");
        assert_eq!(parts.images().count(), 1);
    }
}

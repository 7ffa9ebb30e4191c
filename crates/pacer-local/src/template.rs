//! The model's chat template: the Jinja source in the GGUF's `tokenizer.chat_template`,
//! rendered by minijinja as Hugging Face's `apply_chat_template` renders it (blocks trimmed,
//! Python's string methods, `raise_exception`, `add_generation_prompt`).

use minijinja::{Environment, context};
use pacer_core::Message;

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`, and renders one user message to prove it works.
    pub fn new(source: String, bos_token: String, eos_token: String) -> Result<Self, String> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| format!("chat template syntax: {e}"))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| {
            Err::<String, _>(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                message,
            ))
        });
        env.add_template_owned("chat", source)
            .map_err(|e| format!("its chat template does not parse: {e}"))?;
        let template = ChatTemplate {
            env,
            bos_token,
            eos_token,
        };
        template
            .render(&[Message::new(pacer_core::Role::User, "Hi")])
            .map_err(|e| format!("its chat template does not render: {e}"))?;
        Ok(template)
    }

    /// The prompt for `messages`, ending where the assistant's answer begins.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        let messages: Vec<_> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.text().as_ref() })
            .collect();
        self.env
            .get_template("chat")
            .and_then(|t| {
                t.render(context! {
                    messages => messages,
                    add_generation_prompt => true,
                    bos_token => &self.bos_token,
                    eos_token => &self.eos_token,
                })
            })
            .map_err(|e| match e.detail() {
                Some(detail) => format!("chat template: {detail}"),
                None => format!("chat template: {e}"),
            })
    }

    /// The beginning-of-text token the template was given.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use pacer_core::Role;

    /// SmolLM2-135M-Instruct's template, as its GGUF carries it.
    pub(crate) const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn template(source: &str) -> Result<ChatTemplate, String> {
        ChatTemplate::new(source.into(), "<s>".into(), "</s>".into())
    }

    #[test]
    fn smollm2s_template_adds_its_default_system_prompt() {
        let t = template(SMOLLM2).unwrap();
        assert_eq!(
            t.render(&[Message::new(Role::User, "Hi")]).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let own = t
            .render(&[
                Message::new(Role::System, "Be brief."),
                Message::new(Role::User, "Hi"),
            ])
            .unwrap();
        assert!(
            own.starts_with("<|im_start|>system\nBe brief.<|im_end|>"),
            "{own}"
        );
    }

    #[test]
    fn python_methods_tokens_and_raise_exception_work() {
        // Llama 3's shape: bos_token, `.strip()`, trimmed blocks.
        let llama3 = "{{ bos_token }}{% for m in messages %}\n{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
        let t = template(llama3).unwrap();
        assert_eq!(
            t.render(&[Message::new(Role::User, " Hi ")]).unwrap(),
            "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        let strict = "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m['content'].strip() }}{% endfor %}";
        let t = template(strict).unwrap();
        assert_eq!(t.render(&[Message::new(Role::User, " x ")]).unwrap(), "x");
        let err = t.render(&[Message::new(Role::System, "s")]).unwrap_err();
        assert!(err.contains("System role not supported"), "{err}");
        let broken = template("{% for m in messages %}").unwrap_err();
        assert!(broken.contains("does not parse"), "{broken}");
    }
}

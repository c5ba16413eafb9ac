//! The Gemini backend: the generateContent REST API (`POST
//! {base_url}/v1beta/models/{model}:generateContent`, key in `x-goog-api-key`) through reqwest
//! with rustls. Token counts come from the response's `usageMetadata`.

use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::{LlmBackend, LlmError, LlmRequest, LlmResponse};

/// The Gemini REST client.
pub struct GeminiLlm {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentRequest<'a> {
    system_instruction: Content<'a>,
    contents: Vec<Content<'a>>,
}

#[derive(Serialize)]
struct Content<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct Part<'a> {
    text: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: UsageMetadata,
}

#[derive(Deserialize)]
struct Candidate {
    content: CandidateContent,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<CandidatePart>,
}

#[derive(Deserialize)]
struct CandidatePart {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
}

impl GeminiLlm {
    /// A client of the API at `base_url` with `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
        }
    }

    async fn call(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let body = GenerateContentRequest {
            system_instruction: Content {
                role: None,
                parts: vec![Part {
                    text: &request.system,
                }],
            },
            contents: vec![Content {
                role: Some("user"),
                parts: vec![Part {
                    text: &request.prompt,
                }],
            }],
        };
        let url = format!(
            "{}/v1beta/models/{}:generateContent",
            self.base_url, request.model
        );
        let response = self
            .client
            .post(url)
            .header("x-goog-api-key", &self.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| LlmError::Other(format!("gemini request failed: {e}")))?;
        let status = response.status();
        if status.as_u16() == 429 {
            return Err(LlmError::RateLimited);
        }
        if status.is_server_error() {
            return Err(LlmError::Server(status.as_u16()));
        }
        if !status.is_success() {
            return Err(LlmError::Other(format!("gemini answered {status}")));
        }
        let parsed: GenerateContentResponse = response
            .json()
            .await
            .map_err(|e| LlmError::Other(format!("gemini response malformed: {e}")))?;
        let text: String = parsed
            .candidates
            .first()
            .map(|c| {
                c.content
                    .parts
                    .iter()
                    .filter_map(|p| p.text.as_deref())
                    .collect()
            })
            .unwrap_or_default();
        Ok(LlmResponse {
            text,
            input_tokens: parsed.usage_metadata.prompt_token_count,
            output_tokens: parsed.usage_metadata.candidates_token_count,
        })
    }
}

impl LlmBackend for GeminiLlm {
    fn generate<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'a>> {
        Box::pin(self.call(request))
    }
}

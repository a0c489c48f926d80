//! The catalog: filtered, paginated listings assembled from pre-serialized products, and single products.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::parse_bounded;
use crate::{
    catalog::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT},
    error::AppError,
    extract::PathSegment,
    state::AppState,
};

/// Longest accepted search text; longer cannot match any product and only costs time.
const MAX_QUERY_CHARS: usize = 100;
/// Deepest page offset, far past the catalog's end, so offsets stay small numbers.
const MAX_OFFSET: usize = 100_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list))
        .route("/products/{id}", get(one))
        .route("/categories", get(categories))
}

#[derive(Debug, Default, PartialEq)]
struct Filters {
    category: Option<String>,
    q: Option<String>,
    limit: usize,
    offset: usize,
}

fn parse_filters(
    params: Vec<(String, String)>,
    known_category: impl Fn(&str) -> bool,
) -> Result<Filters, AppError> {
    let mut filters = Filters {
        limit: DEFAULT_PAGE_LIMIT,
        ..Filters::default()
    };
    let mut seen = Vec::new();
    for (name, value) in params {
        if seen.contains(&name) {
            return Err(AppError::BadRequest(format!(
                "query parameter {name} is given more than once"
            )));
        }
        match name.as_str() {
            "category" if known_category(&value) => filters.category = Some(value),
            "category" => {
                return Err(AppError::invalid(
                    "invalid_query",
                    format!("category {value:?} does not exist"),
                ));
            }
            "q" if value.chars().count() > MAX_QUERY_CHARS => {
                return Err(AppError::invalid(
                    "invalid_query",
                    format!("q must be at most {MAX_QUERY_CHARS} characters"),
                ));
            }
            "q" => filters.q = Some(value.trim().to_owned()).filter(|q| !q.is_empty()),
            "limit" => filters.limit = parse_bounded("limit", &value, 1, MAX_PAGE_LIMIT)?,
            "offset" => filters.offset = parse_bounded("offset", &value, 0, MAX_OFFSET)?,
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown query parameter {other:?}; expected category, q, limit or offset"
                )));
            }
        }
        seen.push(name);
    }
    Ok(filters)
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(params) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let catalog = &state.catalog;
    let filters = parse_filters(params, |c| catalog.has_category(c))?;
    let body = catalog.listing(
        filters.category.as_deref(),
        filters.q.as_deref(),
        filters.limit,
        filters.offset,
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn one(State(state): State<AppState>, PathSegment(id): PathSegment) -> Result<Json<Value>, AppError> {
    let product = id.parse().ok().and_then(|id| state.catalog.product(id));
    let product = product.ok_or_else(|| AppError::NotFound(format!("no product with id {id:?}")))?;
    Ok(Json(json!(product)))
}

async fn categories(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"items": state.catalog.categories()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_trims_the_search_text() {
        let filters = parse_filters(params(&[("q", "  ")]), |_| true).unwrap();
        assert_eq!(
            filters,
            Filters {
                limit: DEFAULT_PAGE_LIMIT,
                ..Filters::default()
            }
        );
        let filters = parse_filters(params(&[("q", " Tent "), ("offset", "5")]), |_| true).unwrap();
        assert_eq!((filters.q.as_deref(), filters.offset), (Some("Tent"), 5));
    }

    #[test]
    fn names_the_parameter_at_fault() {
        let message = |pairs: &[(&str, &str)]| {
            parse_filters(params(pairs), |c| c == "books")
                .unwrap_err()
                .to_string()
        };
        assert!(message(&[("limit", "0")]).contains("limit must be between 1 and 100"));
        assert!(message(&[("limit", "-1")]).contains("limit must be between 1 and 100"));
        assert!(message(&[("limit", "ten")]).contains("limit must be a whole number"));
        assert!(message(&[("offset", "-1")]).contains("offset"));
        assert!(message(&[("category", "shoes")]).contains("category \"shoes\""));
        assert!(message(&[("colour", "red")]).contains("unknown query parameter \"colour\""));
        assert!(message(&[("limit", "1"), ("limit", "2")]).contains("more than once"));
    }
}

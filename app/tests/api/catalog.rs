//! The catalog routes: listing, filters, pagination, single products and categories.

use axum::http::StatusCode;

use crate::{common::Reply, get, shop};

fn ids(reply: &Reply) -> Vec<u64> {
    reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_products_in_a_stable_order_with_pagination() {
    let (app, _) = shop();
    let first = get(&app, "/products").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(first.json["total"].as_u64().unwrap() >= 200);
    assert_eq!(ids(&first), (1..=20).collect::<Vec<_>>());
    let page = get(&app, "/products?limit=5&offset=20").await;
    assert_eq!(ids(&page), (21..=25).collect::<Vec<_>>());
    assert_eq!(
        (page.json["limit"].as_u64(), page.json["offset"].as_u64()),
        (Some(5), Some(20))
    );
    let past_the_end = get(&app, "/products?offset=5000").await;
    assert_eq!(past_the_end.status, StatusCode::OK);
    assert!(ids(&past_the_end).is_empty());
    let product = &first.json["items"][0];
    for field in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "priceCents",
        "currency",
    ] {
        assert!(!product[field].is_null(), "{field} missing in {product}");
    }
}

#[tokio::test]
async fn filters_by_category_and_case_insensitive_search() {
    let (app, _) = shop();
    let books = get(&app, "/products?category=books&limit=100").await;
    assert_eq!(books.status, StatusCode::OK);
    let items = books.json["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, books.json["total"].as_u64().unwrap());
    assert!(!items.is_empty() && items.iter().all(|p| p["category"] == "books"));
    let search = get(&app, "/products?q=TENT").await;
    assert!(search.json["total"].as_u64().unwrap() > 0);
    for p in search.json["items"].as_array().unwrap() {
        let text = format!("{} {}", p["name"], p["description"]).to_lowercase();
        assert!(text.contains("tent"), "{text}");
    }
    let both = get(&app, "/products?category=books&q=tent").await;
    assert_eq!(both.json["total"], 0);
    let encoded = get(&app, "/products?q=cast%20iron").await;
    assert!(encoded.json["total"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_listing_parameters_get_clear_errors() {
    let (app, _) = shop();
    for (path, status, fragment) in [
        (
            "/products?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be between 1 and 100",
        ),
        ("/products?limit=101", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        (
            "/products?limit=abc",
            StatusCode::BAD_REQUEST,
            "limit must be a whole number",
        ),
        (
            "/products?limit=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be between 1 and 100",
        ),
        (
            "/products?offset=-3",
            StatusCode::UNPROCESSABLE_ENTITY,
            "offset must be between 0",
        ),
        (
            "/products?category=shoes",
            StatusCode::UNPROCESSABLE_ENTITY,
            "category",
        ),
        (
            "/products?sort=price",
            StatusCode::BAD_REQUEST,
            "unknown query parameter",
        ),
    ] {
        let reply = get(&app, path).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.json);
        reply.error_code();
        assert!(
            reply.json["message"].as_str().unwrap().contains(fragment),
            "{path}: {}",
            reply.json
        );
    }
}

#[tokio::test]
async fn single_products_and_categories() {
    let (app, state) = shop();
    let product = get(&app, "/products/7").await;
    assert_eq!(product.status, StatusCode::OK);
    assert_eq!(product.json["id"], 7);
    assert_eq!(
        product.json["priceCents"],
        state.catalog.product(7).unwrap().price_cents
    );
    for missing in ["/products/0", "/products/99999", "/products/abc"] {
        let reply = get(&app, missing).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{missing}"
        );
    }
    let categories = get(&app, "/categories").await;
    let items = categories.json["items"].as_array().unwrap();
    assert!(items.len() >= 5);
    let listed: u64 = items.iter().map(|c| c["productCount"].as_u64().unwrap()).sum();
    assert_eq!(
        listed,
        get(&app, "/products").await.json["total"].as_u64().unwrap()
    );
}

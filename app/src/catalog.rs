//! The product catalog: a deterministic seeded data set built into the binary, identical in every replica.

use std::collections::HashMap;

use axum::body::Bytes;
use serde::Serialize;

/// Listing pages are bounded so one request cannot ask for the whole catalog.
pub const MAX_PAGE_LIMIT: usize = 100;
pub const DEFAULT_PAGE_LIMIT: usize = 20;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: u32,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: &'static str,
    pub price_cents: u64,
    pub currency: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub slug: &'static str,
    pub name: &'static str,
    pub product_count: usize,
}

struct CategorySeed {
    slug: &'static str,
    name: &'static str,
    /// Price band in whole dollars; every price ends in .99 or .49.
    price_dollars: (u64, u64),
    nouns: &'static [&'static str],
    uses: &'static [&'static str],
}

const ADJECTIVES: &[&str] = &["Aurora", "Summit", "Harbor", "Cedar", "Nimbus", "Atlas"];

const SEEDS: &[CategorySeed] = &[
    CategorySeed {
        slug: "electronics",
        name: "Electronics",
        price_dollars: (19, 899),
        nouns: &[
            "Wireless Headphones",
            "Smart Speaker",
            "USB-C Charger",
            "Action Camera",
            "E-Reader",
        ],
        uses: &["commuting", "home offices", "travel"],
    },
    CategorySeed {
        slug: "books",
        name: "Books",
        price_dollars: (8, 59),
        nouns: &[
            "Field Guide",
            "Cookbook",
            "Mystery Novel",
            "Atlas of Rivers",
            "Poetry Collection",
        ],
        uses: &["rainy weekends", "book clubs", "long flights"],
    },
    CategorySeed {
        slug: "home-kitchen",
        name: "Home & Kitchen",
        price_dollars: (12, 349),
        nouns: &[
            "Cast Iron Skillet",
            "Pour-Over Kettle",
            "Chef Knife",
            "Linen Towel Set",
            "Stand Mixer",
        ],
        uses: &["weeknight dinners", "small kitchens", "slow Sunday breakfasts"],
    },
    CategorySeed {
        slug: "outdoors",
        name: "Outdoors",
        price_dollars: (15, 499),
        nouns: &[
            "Trail Backpack",
            "Two-Person Tent",
            "Headlamp",
            "Sleeping Bag",
            "Water Filter",
        ],
        uses: &["alpine hikes", "car camping", "bikepacking"],
    },
    CategorySeed {
        slug: "toys",
        name: "Toys & Games",
        price_dollars: (6, 129),
        nouns: &[
            "Building Blocks",
            "Puzzle Box",
            "Board Game",
            "Wooden Train",
            "Kite",
        ],
        uses: &["family evenings", "birthday parties", "curious kids"],
    },
    CategorySeed {
        slug: "clothing",
        name: "Clothing",
        price_dollars: (14, 249),
        nouns: &[
            "Merino Sweater",
            "Rain Jacket",
            "Canvas Sneakers",
            "Wool Socks",
            "Denim Shirt",
        ],
        uses: &["city walks", "cold mornings", "everyday wear"],
    },
    CategorySeed {
        slug: "beauty",
        name: "Beauty",
        price_dollars: (5, 89),
        nouns: &["Face Serum", "Lip Balm", "Shampoo Bar", "Hand Cream", "Clay Mask"],
        uses: &["dry winters", "sensitive skin", "gym bags"],
    },
    CategorySeed {
        slug: "sports",
        name: "Sports",
        price_dollars: (9, 399),
        nouns: &[
            "Yoga Mat",
            "Running Vest",
            "Kettlebell",
            "Jump Rope",
            "Cycling Gloves",
        ],
        uses: &["morning runs", "home workouts", "race day"],
    },
];

/// splitmix64: a fixed, well-mixed function of the product id, so prices look varied but never change.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The seeded products and categories, with the indexes that listing requests filter over.
pub struct Catalog {
    products: Vec<Product>,
    categories: Vec<Category>,
    /// Lower-cased `name + " " + description`, same order as `products`, for case-insensitive search.
    search_text: Vec<String>,
    /// Each product serialized once at start, so listings are assembled from bytes, not re-serialized.
    json: Vec<Vec<u8>>,
    /// The default first page of every category (and of no category): the most requested listings,
    /// rendered once and shared by reference.
    first_pages: HashMap<Option<&'static str>, Bytes>,
}

impl Catalog {
    /// Builds the catalog: 6 adjectives × 5 nouns for each of 8 categories = 240 products, ids from 1 in order.
    pub fn seeded() -> Self {
        let mut products = Vec::new();
        let mut categories = Vec::new();
        for seed in SEEDS {
            let before = products.len();
            for noun in seed.nouns {
                for adjective in ADJECTIVES {
                    let id = u32::try_from(products.len() + 1).unwrap_or(u32::MAX);
                    products.push(seed_product(id, seed, adjective, noun));
                }
            }
            categories.push(Category {
                slug: seed.slug,
                name: seed.name,
                product_count: products.len() - before,
            });
        }
        let search_text = products
            .iter()
            .map(|p| format!("{} {}", p.name, p.description).to_lowercase())
            .collect();
        // Invariant: a struct of strings and integers always serializes.
        let json = products
            .iter()
            .map(|p| serde_json::to_vec(p).expect("product serializes"))
            .collect();
        let mut catalog = Catalog {
            products,
            categories,
            search_text,
            json,
            first_pages: HashMap::new(),
        };
        let slugs = std::iter::once(None).chain(catalog.categories.iter().map(|c| Some(c.slug)));
        let first_pages = slugs
            .map(|slug| (slug, catalog.render(slug, None, DEFAULT_PAGE_LIMIT, 0)))
            .collect();
        catalog.first_pages = first_pages;
        catalog
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn product(&self, id: u32) -> Option<&Product> {
        // Ids are dense and start at 1, so the id is the index plus one.
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.products.get(index)
    }

    /// The JSON listing `{"items": [...], "total", "limit", "offset"}` of the matching products in id order.
    pub fn listing(&self, category: Option<&str>, query: Option<&str>, limit: usize, offset: usize) -> Bytes {
        if query.is_none()
            && limit == DEFAULT_PAGE_LIMIT
            && offset == 0
            && let Some(page) = self.first_pages.get(&category)
        {
            return page.clone();
        }
        self.render(category, query, limit, offset)
    }

    fn render(&self, category: Option<&str>, query: Option<&str>, limit: usize, offset: usize) -> Bytes {
        let matching = self.matching(category, query);
        let mut body = Vec::with_capacity(64 + limit.min(matching.len()) * 320);
        body.extend_from_slice(b"{\"items\":[");
        for (n, index) in matching.iter().skip(offset).take(limit).enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.json[*index]);
        }
        let tail = format!(
            "],\"total\":{},\"limit\":{limit},\"offset\":{offset}}}",
            matching.len()
        );
        body.extend_from_slice(tail.as_bytes());
        Bytes::from(body)
    }

    pub fn has_category(&self, slug: &str) -> bool {
        self.categories.iter().any(|c| c.slug == slug)
    }

    /// Indexes (into `products()`) of the products matching the filters, in id order.
    pub fn matching(&self, category: Option<&str>, query: Option<&str>) -> Vec<usize> {
        let needle = query.map(str::to_lowercase);
        self.products
            .iter()
            .zip(&self.search_text)
            .enumerate()
            .filter(|(_, (p, _))| category.is_none_or(|c| p.category == c))
            .filter(|(_, (_, text))| needle.as_deref().is_none_or(|n| text.contains(n)))
            .map(|(i, _)| i)
            .collect()
    }
}

fn seed_product(id: u32, seed: &CategorySeed, adjective: &str, noun: &str) -> Product {
    let hash = mix(u64::from(id));
    let (low, high) = seed.price_dollars;
    let dollars = low + hash % (high - low + 1);
    let cents = if hash & 1 == 0 { 99 } else { 49 };
    let usage = seed.uses[(hash >> 8) as usize % seed.uses.len()];
    Product {
        id,
        sku: format!("HRD-{}-{id:04}", &seed.slug[..3].to_uppercase()),
        name: format!("{adjective} {noun}"),
        description: format!(
            "The {adjective} {noun} from our {} range, made for {usage}. Ships in recyclable packaging.",
            seed.name
        ),
        category: seed.slug,
        price_cents: dollars * 100 + cents,
        currency: "USD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_at_least_200_products_over_several_categories_with_dense_ids() {
        let catalog = Catalog::seeded();
        assert!(catalog.products().len() >= 200);
        assert!(catalog.categories().len() >= 5);
        for (i, p) in catalog.products().iter().enumerate() {
            assert_eq!(p.id as usize, i + 1);
            assert_eq!(catalog.product(p.id).map(|q| q.id), Some(p.id));
            assert!(p.price_cents > 0);
        }
        let counted: usize = catalog.categories().iter().map(|c| c.product_count).sum();
        assert_eq!(counted, catalog.products().len());
        assert!(catalog.product(0).is_none());
        assert!(catalog.product(10_000).is_none());
    }

    #[test]
    fn is_identical_in_every_build() {
        let (a, b) = (Catalog::seeded(), Catalog::seeded());
        let json = |c: &Catalog| serde_json::to_string(c.products()).unwrap();
        assert_eq!(json(&a), json(&b));
        // Pinned so a change to the generator that would make replicas of different versions disagree is seen.
        let first = a.product(1).unwrap();
        assert_eq!(first.name, "Aurora Wireless Headphones");
        assert_eq!(first.sku, "HRD-ELE-0001");
    }

    #[test]
    fn cached_first_pages_equal_freshly_rendered_ones() {
        let catalog = Catalog::seeded();
        for slug in std::iter::once(None).chain(catalog.categories().iter().map(|c| Some(c.slug))) {
            let page = catalog.listing(slug, None, DEFAULT_PAGE_LIMIT, 0);
            assert_eq!(page, catalog.render(slug, None, DEFAULT_PAGE_LIMIT, 0));
            let parsed: serde_json::Value = serde_json::from_slice(&page).unwrap();
            assert_eq!(
                parsed["items"].as_array().unwrap().len(),
                DEFAULT_PAGE_LIMIT.min(240)
            );
        }
    }

    #[test]
    fn search_is_case_insensitive_over_name_and_description() {
        let catalog = Catalog::seeded();
        let by_name = catalog.matching(None, Some("sKiLLeT"));
        assert_eq!(by_name.len(), ADJECTIVES.len());
        let by_description = catalog.matching(Some("outdoors"), Some("BIKEPACKING"));
        assert!(!by_description.is_empty());
        for i in by_description {
            assert!(catalog.products()[i].description.contains("bikepacking"));
        }
    }
}

//! The README's embedding snippet compiles, as written: it is copied into
//! [`embed`] below, and a test checks that every line of the README's
//! Rust block is here, in order, so an edit to either side that lets them
//! drift fails. (The snippet connects to `db.example.com`; it is compiled,
//! not run. The pool's behaviour is tested against PostgreSQL in
//! `pg_*.rs`.)

/// The README's "Embed the runtime pool" snippet, line for line.
#[allow(dead_code)]
async fn embed() -> Result<(), Box<dyn std::error::Error>> {
    use poolcast::runtime::postgres::PgManager;
    use poolcast::runtime::{Pool, load_pool_file};

    // libpq's TLS options: sslmode, sslrootcert (a PEM file or `system`), sslcert/sslkey.
    let manager = PgManager::from_url(
        "postgres://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/rds-ca.pem",
    )?;
    let pool = Pool::builder(manager)
        .config(load_pool_file("pool.toml")?) // predictive policy on the exported artifact.json
        .name("orders")
        .build()?;

    const SQL: &str = "SELECT name FROM users WHERE id = $1";
    let mut conn = pool.get_for(SQL).await?; // prefers a connection that prepared SQL
    let rows = conn.query_cached(SQL, &[&42_i32]).await?;
    drop(conn); // back to the pool

    println!("{:?}", pool.status()); // size, idle, busy, waiting, target, breakers, policy
    let text = pool.prometheus(); // feature "prometheus": poolcast_* and db_client_connection_*
    pool.close().await;
    let _ = (rows, text);
    Ok(())
}

/// The lines of the README's first Rust code block, trimmed, blank ones
/// left out.
fn readme_snippet() -> Vec<&'static str> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```rust\n")
        .expect("README.md has no ```rust block");
    let body = &readme[start + "```rust\n".len()..];
    let end = body
        .find("```")
        .expect("README.md's ```rust block is not closed");
    body[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_snippet_is_the_compiled_one() {
    let here: Vec<&str> = include_str!("readme.rs").lines().map(str::trim).collect();
    let mut at = 0;
    for line in readme_snippet() {
        match here[at..].iter().position(|l| *l == line) {
            Some(i) => at += i + 1,
            None => panic!(
                "README.md's snippet line `{line}` is not in pool/tests/readme.rs \
                 (in order): copy the README's snippet into `embed` there"
            ),
        }
    }
    assert!(at > 0, "README.md's Rust snippet is empty");
}

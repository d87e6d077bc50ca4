mod util;
use util::browser;

#[test]
fn smoke() {
    let _g = browser::lock();
    let Some(driver) = browser::driver() else { return };
    let app = util::Example::start("guess", &[("GUESS_SECRET", "37")]);
    browser::bounded(async {
        let b = driver.browser().await;
        b.goto(&app.url("/")).await;
        println!("url {}", b.url().await);
        println!("body {}", b.body().await);
        b.submit("guess", "50").await;
        println!("after 50: {} {}", b.url().await, b.text("#hint").await);
        b.client.back().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        println!("after back: {} {}", b.url().await, b.body().await);
        b.close().await;
    });
}

//! Operators' files over real HTTP against both simulators: re-hosted under expiring links
//! at the public URL, or sent as portal links (and the line told once) without one.

mod common;

use common::free_port;
use common::replies::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_rehosted_at_the_public_url_and_expires() {
    let port = free_port();
    let b = Bridge::start(|c| {
        c.server.listen = format!("127.0.0.1:{port}");
        c.server.public_url = Some(format!("http://127.0.0.1:{port}/"));
    })
    .await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Пришлите договор");
    let pdf = b"%PDF-1.4 offer".to_vec();
    let link = b
        .env
        .portal
        .attach_file("Договор №5.pdf", "application/pdf", &pdf);
    b.reply(
        "[b]Ольга:[/b][br] Договор во вложении",
        &[("Договор №5.pdf".into(), link.clone())],
    );
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    let text = posts_to(&b)[0]["text"].as_str().unwrap().to_string();
    let (words, hosted) = text.split_once('\n').expect("the link follows the text");
    assert_eq!(words, "Ольга: Договор во вложении");
    let prefix = format!("{}/files/", b.url);
    assert!(hosted.starts_with(&prefix), "{hosted}");
    assert!(!text.contains(&link), "the portal link is not given out");
    let token = hosted[prefix.len()..]
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(token.len() >= 64, "{token}");

    let http = reqwest::Client::new();
    let got = http.get(hosted).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.contains("filename*=UTF-8''%D0%94%D0%BE%D0%B3%D0%BE%D0%B2%D0%BE%D1%80"),
        "{disposition}"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());

    let guessed = format!("{}/files/{}/x.pdf", b.url, "0".repeat(64));
    assert_eq!(http.get(guessed).send().await.unwrap().status(), 404);
    // A week later: the token is gone.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", b.config.database.path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE hosted_files SET expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(http.get(hosted).send().await.unwrap().status(), 404);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_files_go_as_portal_links_and_the_line_is_told_once() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    let link = b.env.portal.attach_file("plan.jpg", "image/jpeg", b"jpg");
    b.reply("Первый файл", &[("plan.jpg".into(), link.clone())]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    b.reply("Второй файл", &[("plan.jpg".into(), link.clone())]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 2).await;
    let posts = posts_to(&b);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["text"], format!("Первый файл\n{link}"));
    let notes: Vec<_> = b
        .env
        .portal
        .line_messages()
        .into_iter()
        .filter(|m| m.chat_id == b.chat())
        .collect();
    assert_eq!(notes.len(), 1, "told once: {notes:#?}");
    assert!(notes[0].text.contains("public_url"), "{}", notes[0].text);
    b.stop().await;
}

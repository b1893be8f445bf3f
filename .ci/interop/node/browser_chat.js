// Two Chromium pages (headless, through playwright-core) chat through
// examples/browser_chat.rs: ann and bob each wait to see both joins, ann
// types a line that bob must see, then bob one that ann must see; then
// both wait for the server's close (it runs with --exit-after 2). Prints
// each page's log as JSON: {"ann": [lines], "bob": [lines]}.
//
// Usage: node browser_chat.js URL [TIMEOUT_MS]
//   WSOCK_CHROMIUM  the browser to drive (default /usr/bin/chromium)
// Every wait is bounded by TIMEOUT_MS. Exits 0 with the logs on stdout, 1
// on a timeout or a browser error (with both logs on stderr).
const { chromium } = require("playwright-core");

async function main() {
  const [url, timeout = "20000"] = process.argv.slice(2);
  const bound = { timeout: Number(timeout) };
  const browser = await chromium.launch({
    executablePath: process.env.WSOCK_CHROMIUM || "/usr/bin/chromium",
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--headless=new"],
    ...bound,
  });
  const pages = {};
  const lines = (page) =>
    page.evaluate(() => document.getElementById("log").textContent.split("\n").filter((l) => l));
  // Waits (bounded) until the page's log has this line.
  const sees = (name, line) =>
    pages[name].waitForFunction(
      (l) => document.getElementById("log").textContent.split("\n").includes(l),
      line,
      bound,
    );
  const open = async (name) => {
    const page = await browser.newPage();
    page.on("console", (m) => console.error(`${name}: ${m.text()}`));
    page.on("dialog", (d) => d.dismiss()); // no prompt is expected: ?nick= is given
    pages[name] = page;
    await page.goto(`${url}?nick=${name}`, bound);
  };
  // Types into the page's form and presses Enter, as a person would.
  const say = async (name, text) => {
    await pages[name].fill("#text", text, bound);
    await pages[name].press("#text", "Enter", bound);
  };
  try {
    await open("ann");
    await sees("ann", "ann joined");
    await open("bob");
    await sees("bob", "bob joined");
    await sees("ann", "bob joined");
    await say("ann", "hello from ann");
    await sees("bob", "ann: hello from ann");
    await say("bob", "hello from bob");
    await sees("ann", "bob: hello from bob");
    await sees("ann", "(closed: 1001)");
    await sees("bob", "(closed: 1001)");
    console.log(JSON.stringify({ ann: await lines(pages.ann), bob: await lines(pages.bob) }));
  } catch (e) {
    for (const [name, page] of Object.entries(pages)) {
      console.error(`${name}'s log: ${JSON.stringify(await lines(page).catch(() => null))}`);
    }
    throw e;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`browser_chat.js: ${e.message}`);
  process.exit(1);
});

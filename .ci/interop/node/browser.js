// Opens a page in Chromium (headless, through playwright-core) and prints
// what the page puts in `window.wsockResult`, once it is set.
//
// Usage: node browser.js URL [TIMEOUT_MS]
//   WSOCK_CHROMIUM  the browser to drive (default /usr/bin/chromium)
// Exits 0 with the result on stdout, 1 on a timeout or a browser error.
const { chromium } = require("playwright-core");

async function main() {
  const [url, timeout = "20000"] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.WSOCK_CHROMIUM || "/usr/bin/chromium",
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--headless=new"],
  });
  try {
    const page = await browser.newPage();
    page.on("console", (m) => console.error(`page: ${m.text()}`));
    await page.goto(url, { timeout: Number(timeout) });
    const result = await page.waitForFunction(() => window.wsockResult, null, {
      timeout: Number(timeout),
    });
    console.log(await result.jsonValue());
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`browser.js: ${e.message}`);
  process.exit(1);
});

// The CoreNAS web UI in a real browser: Debian's Chromium driven by playwright-core, against the
// real corenas-web behind the real nginx that tests/tests/browser.rs started. Run by that test;
// it passes everything in the environment:
//   CORENAS_URL          https://127.0.0.1:PORT (nginx)
//   CORENAS_SETUP_TOKEN  the first-run token from `corenas-ctl system setup-token`
//   CORENAS_DISC         a loop device with an ISO on it; CORENAS_DISC_SHA256 its checksum
//   CORENAS_SHOTS        where screenshots go (kept as CI artifacts)
//   CORENAS_BACKUP_REPO  a directory for a local backup repository beneath the btrfs pool "bk"
// Every step names itself; the first failure ends the run with a non-zero exit.

import { chromium } from "playwright-core";
import { createHmac, createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const base = process.env.CORENAS_URL;
const shots = process.env.CORENAS_SHOTS;
const disc = process.env.CORENAS_DISC;
const discSha = process.env.CORENAS_DISC_SHA256;
const spare = process.env.CORENAS_SPARE_DISK;
// A directory for a local backup repository (beneath a btrfs pool "bk" the test made, outside
// its dataset "data", which holds docs/a.txt).
const backupRepo = process.env.CORENAS_BACKUP_REPO;
const password = "Correct-Horse-9x";
const newPassword = "Battery-Staple-7y";
mkdirSync(shots, { recursive: true });

function step(name) {
  console.log(`step: ${name}`);
}

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/[^A-Z2-7]/g, "")) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((value >>> bits) & 0xff); }
  }
  return Buffer.from(out);
}

// RFC 6238 (SHA-1, 6 digits, 30 s): the authenticator app.
function totpAt(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, "0");
}

const usedSteps = new Map();
// A code for a step this secret has not used yet (CoreNAS refuses a code twice).
async function freshCode(secret) {
  for (;;) {
    const s = Math.floor(Date.now() / 1000 / 30);
    if (s > (usedSteps.get(secret) ?? 0)) { usedSteps.set(secret, s); return totpAt(secret, s); }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function shoot(page, name) {
  for (const width of [390, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

// Accessibility on the page as shown, in light and in dark: every form control has a label, every
// text meets WCAG AA contrast against what is behind it (4.5:1, 3:1 for large text), the focus
// ring has 3:1 against the page. Dark screenshots too.
async function a11y(page, name) {
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const problems = await page.evaluate(() => {
      const rgb = (c) => { const m = c.match(/[\d.]+/g) || []; return m.map(Number); };
      const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
      const behind = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
        }
        return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
      };
      const out = [];
      for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
        const named = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
        if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
      }
      for (const el of document.querySelectorAll("body *")) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        const st = getComputedStyle(el);
        if (!own || st.visibility === "hidden" || st.display === "none" || el.closest(".skip,[hidden],details:not([open]) > :not(summary)")) continue;
        const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
        const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
        const r = ratio(rgb(st.color).slice(0, 3), behind(el));
        if (r < need) out.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${r.toFixed(2)}:1`);
      }
      const focus = rgb(getComputedStyle(document.documentElement).getPropertyValue("--focus").trim().replace(/^#(..)(..)(..)$/, (_, a, b, c) => `${parseInt(a, 16)},${parseInt(b, 16)},${parseInt(c, 16)}`));
      const bg = rgb(getComputedStyle(document.body).backgroundColor).slice(0, 3);
      if (ratio(focus, bg) < 3) out.push(`focus ring ${ratio(focus, bg).toFixed(2)}:1 against the page`);
      return out;
    });
    expect(problems.length === 0, `${name} (${scheme}): ${problems.join("; ")}`);
    if (scheme === "dark") {
      for (const width of [390, 1440]) {
        await page.setViewportSize({ width, height: 900 });
        await page.screenshot({ path: join(shots, `${name}-dark-${width}.png`), fullPage: true });
      }
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
}

// Keyboard: on a freshly loaded page the first Tab reaches the skip link, with a visible ring.
async function firstTab(page, path) {
  await page.goto(base + path);
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => {
    const a = document.activeElement;
    return { cls: a.className, outline: getComputedStyle(a).outlineStyle };
  });
  expect(first.cls.includes("skip") && first.outline !== "none", `${path}: the first Tab shows the skip link with a focus ring: ${JSON.stringify(first)}`);
}

function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});

let failed = false;
try {
  // ---- With JavaScript: setup, enrollment, a share user, an imaging job watched live, download.
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale: "en-US" });
  const page = await ctx.newPage();
  const csp = [];
  page.on("console", (m) => { if (/Content Security Policy|Refused to/.test(m.text())) csp.push(m.text()); });

  step("the first visit goes to setup");
  await page.goto(base + "/");
  expect(page.url().endsWith("/setup"), `redirected to /setup, got ${page.url()}`);
  await shoot(page, "setup");

  step("setup creates the first administrator");
  await page.getByLabel("Setup token").fill(process.env.CORENAS_SETUP_TOKEN);
  await page.getByLabel("Administrator's user name").fill("alice");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.waitForSelector("#totp-secret");
  await shoot(page, "enroll");
  const secret = await page.locator("#totp-secret").getAttribute("data-secret");
  expect(await page.locator("figure.qr img").evaluate((img) => img.naturalWidth > 0), "the QR code renders");

  step("the first code confirms the authenticator; recovery codes are shown once");
  await page.getByLabel(/Code \(6 digits\)/).fill(await freshCode(secret));
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForSelector("#recovery-codes");
  expect((await page.locator("#recovery-codes li").count()) === 10, "ten recovery codes");
  await shoot(page, "recovery-codes");
  await page.getByRole("link", { name: "Continue to the dashboard" }).click();
  await page.waitForSelector("#jobs");
  await shoot(page, "dashboard");
  await a11y(page, "dashboard");
  await firstTab(page, "/");

  step("a share user with a generated password, then an SMB password");
  await page.getByRole("link", { name: "Accounts" }).click();
  // The policy checklist follows the typing: "abc" meets only two rules, a good password all.
  const met = async () => (await page.locator('ul.policy[data-policy-for="password"] li.met').evaluateAll((l) => l.map((e) => e.dataset.rule))).join(",");
  await page.locator("#new-user").getByLabel(/^Password/).fill("abc");
  expect((await met()) === "printable,lower", `"abc" meets printable and lower only: ${await met()}`);
  await page.locator("#new-user").getByLabel(/^Password/).fill("Correct-Horse-9x");
  expect((await met()) === "length,printable,upper,lower,digit,special", `all rules met: ${await met()}`);
  await page.locator("#new-user").getByLabel(/^Password/).fill("");
  await page.locator("#new-user").getByLabel("User name").fill("bob");
  await page.getByRole("button", { name: "Create user" }).click();
  await page.waitForSelector("#generated-password");
  expect(await page.locator('tr[data-user="bob"]').count() === 1, "bob is listed");
  const bob = page.locator('tr[data-user="bob"]');
  await bob.locator("summary").click();
  await bob.getByLabel("New SMB password").fill("Smb-Passw0rd!x");
  await bob.getByRole("button", { name: "Set" }).click();
  await page.getByText("SMB password set for bob").waitFor();
  expect((await page.locator('tr[data-user="bob"] td.smb').innerText()).includes("enabled"), "bob's SMB account is enabled");
  await shoot(page, "accounts");
  await a11y(page, "accounts");

  step("an imaging job on the disc; the progress reaches 100 % live");
  await page.getByRole("link", { name: "Imaging" }).click();
  await page.getByLabel("Drive").selectOption(disc);
  await page.getByLabel("Job name").fill("browser-disc-1");
  await page.getByRole("button", { name: "Start imaging" }).click();
  await page.waitForSelector("[data-job-page]");
  await shoot(page, "job-running");
  // live.js reloads the page once the job has ended; the download link appears then.
  await page.waitForSelector("#download", { timeout: 120000 });
  expect((await page.locator(".progress .pct").first().innerText()).startsWith("100"), "100 %");
  await shoot(page, "job-done");
  const sha = (await page.locator("#sha256").innerText()).trim();
  expect(sha === discSha, `the job's checksum ${sha} is the disc's ${discSha}`);

  step("the download is the image");
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download").click()]);
  const file = join(shots, "download.iso");
  await download.saveAs(file);
  const got = createHash("sha256").update(readFileSync(file)).digest("hex");
  expect(got === discSha, `downloaded ${got}, disc ${discSha}`);

  step("storage wizard: a single-disk pool, the dry-run plan shown before anything runs");
  await page.getByRole("link", { name: "Storage", exact: true }).click();
  await shoot(page, "storage-empty");
  await page.getByRole("link", { name: "New pool (wizard)" }).click();
  await page.getByLabel("One disk (ext4 or xfs)").check();
  await page.getByLabel(new RegExp(`^ ?${spare} `)).check();
  await shoot(page, "wizard-1");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Filesystem").selectOption("ext4");
  await page.getByLabel("Pool name").fill("webpool");
  await page.getByRole("button", { name: "Show the plan" }).click();
  await page.waitForSelector("ol.plan li");
  const plan = await page.locator("ol.plan").innerText();
  expect(plan.includes("mkfs.ext4") && plan.includes(spare), `the plan names mkfs.ext4 on ${spare}: ${plan}`);
  await shoot(page, "wizard-plan");
  await page.getByRole("button", { name: "Create the pool" }).click();
  await page.getByText("Pool created: webpool").waitFor({ timeout: 60000 });
  expect(await page.locator('[data-pool="webpool"]').count() === 1, "the pool is listed");
  await shoot(page, "storage");

  step("a share with SMB; the rendered configuration is shown");
  await page.getByRole("link", { name: "Shares", exact: true }).click();
  await page.locator("#new-share").getByLabel("Name", { exact: true }).fill("media");
  await page.getByRole("button", { name: "Create share" }).click();
  await page.getByText("Share created: media").waitFor();
  expect((await page.locator("#config pre").first().innerText()).includes("[media]"), "smb.conf has [media]");
  await shoot(page, "shares");

  step("the disc's device page: SMART (none on a loop device) and the wipe form");
  await page.goto(base + "/devices/" + disc.replace("/dev/", ""));
  await page.waitForSelector("#smart");
  expect(await page.locator("#wipe form").count() === 1, "a wipe form with typed confirmation");
  await shoot(page, "device");
  await page.getByRole("link", { name: "Devices", exact: true }).click();
  await shoot(page, "devices");

  step("archive: tags and notes");
  await page.goto(base + "/archive");
  await page.locator("details summary").first().click();
  await page.getByLabel("Tags (comma-separated)").first().fill("backup, family");
  await page.getByLabel("Notes").first().fill("first disc from the browser");
  await page.getByRole("button", { name: "Save" }).first().click();
  await page.getByText("Saved.").waitFor();
  expect((await page.locator(".archive .badge").allInnerTexts()).join(",").includes("family"), "the tag is shown");
  await page.goto(base + "/archive?tag=family");
  expect((await page.locator(".archive").count()) === 1, "filtered by tag");
  await shoot(page, "archive");

  step("audit log filtered to web logins");
  await page.getByRole("link", { name: "Audit log", exact: true }).click();
  await page.locator("#chain").waitFor();
  await page.getByLabel("Action starts with").fill("web.");
  await page.getByRole("button", { name: "Filter" }).click();
  const actions = await page.locator("#audit tbody td:nth-child(4)").allInnerTexts();
  expect(actions.length > 0 && actions.every((a) => a.startsWith("web.")), `only web.* entries: ${actions}`);
  await shoot(page, "audit");

  step("alerts: the page, a silence through the form, the dashboard's health and charts");
  await page.getByRole("link", { name: "Alerts", exact: true }).click();
  await page.locator("#active-alerts").waitFor();
  await page.locator("#silences details summary").click();
  await page.getByLabel(/^Subject/).fill("webpool");
  await page.getByLabel("Reason").fill("browser test");
  await page.getByRole("button", { name: "Silence", exact: true }).click();
  await page.getByText("Silenced until").waitFor();
  expect((await page.locator("#silences tbody tr").count()) >= 1, "the silence is listed");
  await shoot(page, "alerts");
  await a11y(page, "alerts");
  await page.getByRole("link", { name: "Dashboard", exact: true }).click();
  await page.locator("#health").waitFor();
  await page.getByRole("link", { name: "week", exact: true }).click();
  await page.waitForURL(/range=week/);
  await page.locator("#charts").waitFor();
  await shoot(page, "dashboard-health");

  step("backups: a local target (its password never filled back), a task previewed before it is saved");
  await page.getByRole("link", { name: "Backups", exact: true }).click();
  await page.locator("#backup-targets").waitFor();
  const local = page.locator('form[data-kind="local"]');
  await page.locator("#new-target details").first().locator("summary").click();
  await local.getByLabel("Name", { exact: true }).fill("Bad Name");
  await local.getByLabel("Directory", { exact: true }).fill(backupRepo);
  await local.getByLabel("Repository password").fill("Repo-Secret-4711!");
  await local.getByRole("button", { name: "Add target" }).click();
  await page.locator(".alert.error").waitFor();
  expect((await page.locator(".alert.error").innerText()).includes("name"), "the refusal names the field");
  const refilled = page.locator('form[data-kind="local"]');
  expect((await refilled.getByLabel("Directory", { exact: true }).inputValue()) === backupRepo, "what was typed is filled back");
  expect((await refilled.getByLabel("Repository password").inputValue()) === "", "the password is not");
  expect((await page.content()).indexOf("Repo-Secret-4711!") < 0, "the password is nowhere in the page");
  await refilled.getByLabel("Name", { exact: true }).fill("usb");
  await refilled.getByLabel("Repository password").fill("Repo-Secret-4711!");
  await refilled.getByRole("button", { name: "Add target" }).click();
  await page.getByText("Target added.").waitFor({ timeout: 60000 });
  expect(await page.locator("#target-list td", { hasText: "usb" }).count() >= 1, "the target is listed");
  await shoot(page, "backups");
  await a11y(page, "backups");
  const taskForm = page.locator("#new-task");
  await taskForm.getByLabel("Name", { exact: true }).fill("docs");
  await taskForm.getByLabel("Source", { exact: true }).selectOption("dataset:bk/data");
  await taskForm.getByLabel("Target", { exact: true }).selectOption("usb");
  await taskForm.getByLabel("Runs", { exact: true }).selectOption("off");
  await taskForm.getByLabel("Last N snapshots").fill("3");
  await taskForm.getByLabel("Daily").fill("7");
  await taskForm.getByRole("button", { name: "Preview retention" }).click();
  await page.locator("#retention-preview").waitFor();
  expect((await page.locator("#new-task").getByLabel("Daily").inputValue()) === "7", "the policy stays in the form");
  await shoot(page, "backup-preview");
  await page.locator("#new-task").getByRole("button", { name: "Add task" }).click();
  await page.waitForURL(/\/backups\/tasks\/docs$/);
  await page.locator("#snapshots").waitFor();
  await shoot(page, "backup-task");
  await a11y(page, "backup-task");

  step("backups: back up now, the job's progress reaches done live, the snapshot is browsed");
  await page.getByRole("button", { name: "Back up now" }).click();
  await page.waitForSelector("[data-job-page], .alert.error");
  if (await page.locator("[data-job-page]").count() === 0) {
    const why = await page.locator(".alert.error").innerText();
    expect(why.includes("does not offer"), `back up now: ${why}`);
    console.log(`step skipped: this corenasd runs no backups yet (${why})`);
  } else {
    // live.js reloads the page when the job ends; no fixed wait, only the state.
    await page.waitForSelector('[data-job-page] .state[data-status="done"], [data-job-page] .state[data-status="failed"]', { timeout: 180000 });
    const state = await page.locator("[data-job-page] .state").first().getAttribute("data-status");
    expect(state === "done", `the backup is done: ${state} ${await page.locator("#job-error").allInnerTexts()}`);
    await shoot(page, "backup-job-done");
    await page.locator("#job-snapshot").click();
    await page.locator("#snapshot-entries").waitFor();
    await page.getByRole("link", { name: "Open docs" }).click();
    await page.getByLabel("a.txt").check();
    await shoot(page, "backup-browse");
    await a11y(page, "backup-browse");

    step("backups: restore a file into a new folder; the job's page follows it to done");
    await page.getByLabel("Into a new folder").check();
    await page.getByRole("button", { name: "Restore", exact: true }).click();
    await page.waitForSelector("[data-job-page], .alert.error");
    if (await page.locator("[data-job-page]").count() === 0) {
      const why = await page.locator(".alert.error").innerText();
      expect(why.includes("does not offer"), `restore: ${why}`);
      console.log(`step skipped: this corenasd restores nothing yet (${why})`);
    } else {
      await page.waitForSelector('[data-job-page] .state[data-status="done"], [data-job-page] .state[data-status="failed"]', { timeout: 180000 });
      const rs = await page.locator("[data-job-page] .state").first().getAttribute("data-status");
      expect(rs === "done", `the restore is done: ${rs} ${await page.locator("#job-error").allInnerTexts()}`);
      console.log(`restored: ${page.url().split("/").pop()}`);
      await shoot(page, "backup-restore-done");
    }
  }

  step("settings: an API key shown once, and a new password");
  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.getByLabel("What the key is for").fill("backup script");
  await page.getByRole("button", { name: "Create key" }).click();
  expect((await page.locator("#new-api-key code").innerText()).startsWith("cnk_"), "the key is shown");
  await page.getByLabel("Current password").fill(password);
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByText("Your password is changed.").waitFor();
  await shoot(page, "settings");
  await a11y(page, "settings");

  step("German");
  await page.getByRole("button", { name: "Deutsch" }).click();
  await page.getByRole("link", { name: "Übersicht" }).waitFor();
  await shoot(page, "settings-de");
  await page.getByRole("button", { name: "English" }).click();

  step("logout ends the session");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login$/);
  await shoot(page, "login");
  await page.goto(base + "/accounts");
  expect(page.url().endsWith("/login"), "after logout, pages send to the login");
  expect(csp.length === 0, `no CSP violations: ${csp.join("; ")}`);
  await ctx.close();

  // ---- Without JavaScript: login with a code, a share user, an imaging job to the end, logout.
  const nojs = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false, locale: "de-DE" });
  const p2 = await nojs.newPage();
  step("without JavaScript: login (German, from Accept-Language)");
  await p2.goto(base + "/login");
  await p2.getByLabel("Benutzername").fill("alice");
  await p2.getByLabel("Passwort").fill(newPassword);
  await p2.getByRole("button", { name: "Weiter" }).click();
  await p2.getByLabel(/Code \(6 Ziffern\)/).fill(await freshCode(secret));
  await p2.getByRole("button", { name: "Anmelden" }).click();
  await p2.waitForSelector("#jobs");

  step("without JavaScript: the dashboard's charts are drawn by the server");
  await p2.goto(base + "/?range=day");
  await p2.locator("#health").waitFor();
  expect((await p2.locator("#charts svg.chart").count()) >= 1, "at least one chart without script");
  await shoot(p2, "dashboard-nojs-de");

  step("without JavaScript: a share user");
  await p2.goto(base + "/accounts");
  await p2.locator("#new-user").getByLabel("Benutzername").fill("carol");
  await p2.getByRole("button", { name: "Benutzer anlegen" }).click();
  await p2.waitForSelector("#generated-password");

  step("without JavaScript: an imaging job, followed by the page's own refresh");
  await p2.goto(base + "/imaging");
  await p2.getByLabel("Laufwerk").selectOption(disc);
  await p2.getByLabel("Auftragsname").fill("nojs-disc-1");
  await p2.getByRole("button", { name: "Abbild starten" }).click();
  await p2.waitForSelector("#download", { timeout: 120000 });
  expect((await p2.locator("#sha256").innerText()).trim() === discSha, "the same checksum");
  await shoot(p2, "job-done-nojs-de");

  step("without JavaScript: logout");
  await p2.getByRole("button", { name: "Abmelden" }).click();
  await p2.waitForURL(/\/login$/);
  await nojs.close();
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

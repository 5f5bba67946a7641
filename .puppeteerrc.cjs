// Chrome comes from the system (Debian's chromium) or CHROME_PATH: never downloaded at install.
module.exports = { skipDownload: true };

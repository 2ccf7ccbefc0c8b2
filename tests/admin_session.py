"""A signed-in admin user over real HTTP, for end-to-end tests against gunicorn."""
import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class AdminSession:
    """Cookies, CSRF token and form posts, as a browser would send them.

    With DEBUG off the session and CSRF cookies are marked Secure; the test servers speak plain
    HTTP on the loopback, so this cookie jar sends Secure cookies over http too (as browsers do
    for localhost).
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        policy = http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "wss", "http"))
        self.cookies = http.cookiejar.CookieJar(policy)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, str, str]:
        """(status, final URL after redirects, body)."""
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path: str, fields: dict[str, Any]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(
            {**fields, "csrfmiddlewaretoken": self._cookie("csrftoken")}, doseq=True
        ).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method="POST")
        return self._open(request)

    def log_in(self, username: str, password: str) -> None:
        self.get("/admin/login/")  # sets the CSRF cookie
        status, url, body = self.post(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password, "next": "/admin/"},
        )
        if status != 200 or not url.endswith("/admin/") or self._cookie("sessionid") is None:
            raise RuntimeError(f"admin login failed: {status} {url}")

    def _cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode()

# An image that runs `acmecf renew` on a schedule (README, "In a container").
#
#   docker build -t acmecf .
#   docker run -d --name acmecf --restart unless-stopped \
#       -v acmecf-config:/config \
#       -v /srv/secrets/cloudflare-api-token:/run/secrets/cloudflare_api_token:ro \
#       acmecf
#
# It runs as the unprivileged user acmecf (uid 10001), which must own /config (a named volume
# does; chown a bind mount to 10001) and be able to read the token file; `--user 0` runs it as
# root instead. Other commands: `docker run --rm -it -v acmecf-config:/config ... --entrypoint
# acmecf acmecf issue --agree-tos -d example.com`.
FROM python:3.12-slim

# acmecf from this checkout; for a release, `pip install acmecf==VERSION` instead.
COPY . /src
RUN pip install --no-cache-dir /src \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --home-dir /config --no-create-home \
        --shell /usr/sbin/nologin acmecf \
    && install -d -m 0700 -o acmecf -g acmecf /config
COPY docker/renew-loop /usr/local/bin/acmecf-renew-loop

# The configuration directory (accounts, certificates, run logs) is the volume; the Cloudflare
# token comes from a secret file, never from the image or the command line.
ENV ACMECF_CONFIG_DIR=/config \
    CLOUDFLARE_API_TOKEN_FILE=/run/secrets/cloudflare_api_token \
    ACMECF_RENEW_INTERVAL=12h \
    ACMECF_RANDOM_SLEEP=1h \
    PYTHONUNBUFFERED=1
VOLUME ["/config"]
USER acmecf
ENTRYPOINT ["acmecf-renew-loop"]

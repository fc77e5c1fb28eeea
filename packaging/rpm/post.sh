# %post of chat2desk-b24 ($1: 1 = install, 2 = upgrade).
# RPM >= 4.19 creates the user from sysusers.d itself; older rpm needs this (idempotent).
systemd-sysusers chat2desk-b24.conf || :
# The config holds secrets: root may write it, the service group may only read it.
if [ -f /etc/chat2desk-b24/config.toml ]; then
    chown root:chat2desk-b24 /etc/chat2desk-b24/config.toml || :
    chmod 0640 /etc/chat2desk-b24/config.toml || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
fi

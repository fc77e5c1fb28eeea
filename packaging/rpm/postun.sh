# %postun of chat2desk-b24 ($1: 0 = erase, 1 = upgrade). The state in /var/lib/chat2desk-b24
# and the system user are kept on erase, as is usual for RPM packages.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart chat2desk-b24.service || :
    fi
fi

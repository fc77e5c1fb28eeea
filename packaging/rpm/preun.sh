# %preun of chat2desk-b24 ($1: 0 = erase, 1 = upgrade): stop and disable only on erase.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now chat2desk-b24.service || :
fi

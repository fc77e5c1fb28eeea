<?php
$MESS['C2D_SEND_DESCR_NAME'] = 'Написать сообщение на номер';
$MESS['C2D_SEND_DESCR_DESCRIPTION'] = 'Отправляет клиенту сообщение через Chat2Desk (WhatsApp, Viber, Telegram…) по номеру телефона';
$MESS['C2D_SEND_DESCR_SENT'] = 'Отправлено';
$MESS['C2D_SEND_DESCR_MESSAGE_ID'] = 'ID сообщения в Chat2Desk';
$MESS['C2D_SEND_DESCR_ERROR'] = 'Ошибка отправки';

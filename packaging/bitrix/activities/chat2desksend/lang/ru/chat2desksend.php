<?php
$MESS['C2D_SEND_CHANNEL'] = 'Канал';
$MESS['C2D_SEND_TEXT'] = 'Текст сообщения';
$MESS['C2D_SEND_PHONE'] = 'Телефон клиента';
$MESS['C2D_SEND_FILES'] = 'Ссылки на файлы';
$MESS['C2D_SEND_TRANSPORT'] = 'Транспорт';
$MESS['C2D_SEND_TRANSPORT_AUTO'] = 'как у клиента или первый транспорт канала';
$MESS['C2D_SEND_REQUIRED'] = 'Не заполнено поле «#FIELD#»';
$MESS['C2D_SEND_NO_SETTINGS'] = 'Chat2Desk: нет настроек действия (адрес сервиса и секрет); выполните на сервере chat2desk-b24 bizproc install';
$MESS['C2D_SEND_DAEMON_FAILED'] = 'Chat2Desk: сервис chat2desk-b24 не принял сообщение: #REASON#';
$MESS['C2D_SEND_QUEUED'] = 'Chat2Desk: сообщение передано в очередь отправки';
$MESS['C2D_SEND_TIMEOUT'] = 'Chat2Desk: результат отправки не пришёл вовремя';

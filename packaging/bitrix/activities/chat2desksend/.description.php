<?php
// The action «Написать сообщение на номер» (Chat2Desk): designer activity and CRM robot.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

$arActivityDescription = [
    'NAME' => GetMessage('C2D_SEND_DESCR_NAME'),
    'DESCRIPTION' => GetMessage('C2D_SEND_DESCR_DESCRIPTION'),
    'TYPE' => ['activity', 'robot_activity'],
    'CLASS' => 'Chat2DeskSend',
    'JSCLASS' => 'BizProcActivity',
    // The «Chat2Desk» group inside «Other» of the designer.
    'CATEGORY' => ['ID' => 'other', 'OWN_ID' => 'chat2desk', 'OWN_NAME' => 'Chat2Desk'],
    'RETURN' => [
        'Sent' => ['NAME' => GetMessage('C2D_SEND_DESCR_SENT'), 'TYPE' => 'bool'],
        'MessageId' => ['NAME' => GetMessage('C2D_SEND_DESCR_MESSAGE_ID'), 'TYPE' => 'string'],
        'Error' => ['NAME' => GetMessage('C2D_SEND_DESCR_ERROR'), 'TYPE' => 'string'],
    ],
    'FILTER' => ['INCLUDE' => [['crm']]],
    'ROBOT_SETTINGS' => [
        'CATEGORY' => 'client',
        'GROUP' => ['clientCommunication'],
        'TITLE' => GetMessage('C2D_SEND_DESCR_NAME'),
        'SORT' => 2900,
    ],
];

<?php
// «Написать сообщение на номер»: posts the call to the chat2desk-b24 daemon on the LAN and
// waits for its result, which the daemon sends with bizproc.event.send (the way
// CBPRestActivity waits for an application). The logic lives in the daemon; this class only
// hands over the call and applies the result.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

class CBPChat2DeskSend extends CBPActivity implements IBPEventActivity, IBPActivityExternalEventListener
{
    /** Sent as `code`, as a REST activity's code. */
    private const CODE = 'chat2desk_send';

    /** Random id of the awaited event; protected so it survives the workflow's serialization. */
    protected $eventId = '';
    /** The scheduler's timeout subscription. */
    protected $subscriptionId = 0;

    public function __construct($name)
    {
        parent::__construct($name);
        $this->arProperties = [
            'Title' => '',
            'ChannelId' => '',
            'MessageText' => '',
            'Phone' => '',
            'Files' => [],
            'Transport' => '',
            'Sent' => 'N',
            'MessageId' => '',
            'Error' => '',
        ];
        $this->SetPropertiesTypes([
            'Sent' => ['Type' => 'bool'],
            'MessageId' => ['Type' => 'string'],
            'Error' => ['Type' => 'string'],
        ]);
    }

    protected function ReInitialize()
    {
        parent::ReInitialize();
        $this->Sent = 'N';
        $this->MessageId = '';
        $this->Error = '';
        $this->eventId = '';
        $this->subscriptionId = 0;
    }

    public function Execute()
    {
        $settings = static::settings();
        if ($settings === null) {
            return $this->fail(GetMessage('C2D_SEND_NO_SETTINGS'));
        }
        $this->eventId = \Bitrix\Main\Security\Random::getString(32, true);
        $token = \CBPRestActivity::generateToken($this->GetWorkflowInstanceId(), $this->name, $this->eventId);
        $files = array_values(array_filter(array_map('trim', (array)$this->Files), 'strlen'));
        $phone = $this->Phone;
        $body = [
            'workflow_id' => $this->GetWorkflowInstanceId(),
            'code' => self::CODE,
            'document_id' => $this->GetDocumentId(),
            'document_type' => $this->GetDocumentType(),
            'event_token' => $token,
            'properties' => [
                'channel_id' => (string)$this->ChannelId,
                'phone' => is_array($phone) ? implode(', ', $phone) : (string)$phone,
                'text' => (string)$this->MessageText,
                'files' => $files,
                'transport' => (string)$this->Transport,
            ],
            'use_subscription' => 'Y',
            'timeout_duration' => (int)$settings['timeout'],
            'ts' => time(),
            'auth' => ['application_token' => $settings['secret']],
        ];
        // Short timeouts: this runs inside the hit that moved the workflow; the daemon answers
        // 202 as soon as the call is queued. No proxy: the daemon is on the LAN.
        $http = new \Bitrix\Main\Web\HttpClient([
            'socketTimeout' => 3,
            'streamTimeout' => 10,
            'redirect' => false,
            'proxyHost' => null,
        ]);
        $http->setHeader('Content-Type', 'application/x-www-form-urlencoded');
        $answer = $http->post($settings['url'] . '/bizproc/send', http_build_query($body));
        $status = (int)$http->getStatus();
        if ($answer === false || $status !== 202) {
            $reason = $answer === false
                ? implode('; ', (array)$http->getError())
                : 'HTTP ' . $status . ' ' . mb_substr(trim((string)$answer), 0, 300);
            return $this->fail(GetMessage('C2D_SEND_DAEMON_FAILED', ['#REASON#' => $reason]));
        }
        $this->WriteToTrackingService(GetMessage('C2D_SEND_QUEUED'));
        $this->Subscribe($this);
        return CBPActivityExecutionStatus::Executing;
    }

    public function Subscribe(IBPActivityExternalEventListener $eventHandler)
    {
        $timeout = (int)(static::settings()['timeout'] ?? 0);
        if ($timeout > 0) {
            $scheduler = $this->workflow->GetService('SchedulerService');
            $this->subscriptionId = $scheduler->SubscribeOnTime(
                $this->workflow->GetInstanceId(),
                $this->name,
                time() + $timeout
            );
        }
        $this->workflow->AddEventHandler($this->name, $eventHandler);
    }

    public function Unsubscribe(IBPActivityExternalEventListener $eventHandler)
    {
        if ($this->subscriptionId) {
            $this->workflow->GetService('SchedulerService')->UnSubscribeOnTime($this->subscriptionId);
            $this->subscriptionId = 0;
        }
        $this->workflow->RemoveEventHandler($this->name, $eventHandler);
    }

    public function OnExternalEvent($eventParameters = [])
    {
        if ($this->executionStatus === CBPActivityExecutionStatus::Closed) {
            return;
        }
        if (($eventParameters['SchedulerService'] ?? '') === 'OnAgent') {
            $this->Sent = 'N';
            $this->Error = GetMessage('C2D_SEND_TIMEOUT');
            $this->WriteToTrackingService($this->Error, 0, CBPTrackingType::Error);
            $this->Unsubscribe($this);
            $this->workflow->CloseActivity($this);
            return;
        }
        if (($eventParameters['EVENT_ID'] ?? '') !== $this->eventId) {
            return;
        }
        // RETURN_VALUES arrive as the daemon sent them: keep only ours, cast.
        $values = (array)($eventParameters['RETURN_VALUES'] ?? []);
        $this->Sent = (($values['sent'] ?? 'N') === 'Y') ? 'Y' : 'N';
        $this->MessageId = (string)($values['message_id'] ?? '');
        $this->Error = (string)($values['error'] ?? '');
        if (!empty($eventParameters['LOG_MESSAGE'])) {
            $type = $this->Sent === 'Y' ? CBPTrackingType::Custom : CBPTrackingType::Error;
            $this->WriteToTrackingService((string)$eventParameters['LOG_MESSAGE'], 0, $type);
        }
        if (!empty($eventParameters['LOG_ACTION'])) {
            return;
        }
        $this->Unsubscribe($this);
        $this->workflow->CloseActivity($this);
    }

    public function Cancel()
    {
        if ($this->eventId !== '') {
            $this->Unsubscribe($this);
        }
        return CBPActivityExecutionStatus::Closed;
    }

    public function HandleFault(Exception $exception)
    {
        $status = $this->Cancel();
        return $status === CBPActivityExecutionStatus::Canceling ? CBPActivityExecutionStatus::Faulting : $status;
    }

    public static function GetPropertiesDialog($documentType, $activityName, $arWorkflowTemplate, $arWorkflowParameters, $arWorkflowVariables, $arCurrentValues = null, $formName = '', $popupWindow = null, $siteId = '')
    {
        $dialog = new \Bitrix\Bizproc\Activity\PropertiesDialog(__FILE__, [
            'documentType' => $documentType,
            'activityName' => $activityName,
            'workflowTemplate' => $arWorkflowTemplate,
            'workflowParameters' => $arWorkflowParameters,
            'workflowVariables' => $arWorkflowVariables,
            'currentValues' => $arCurrentValues,
            'formName' => $formName,
            'siteId' => $siteId,
        ]);
        $dialog->setMap(static::getPropertiesMap());
        return $dialog;
    }

    public static function GetPropertiesDialogValues($documentType, $activityName, &$arWorkflowTemplate, &$arWorkflowParameters, &$arWorkflowVariables, $arCurrentValues, &$arErrors)
    {
        $properties = [];
        foreach (static::getPropertiesMap() as $key => $field) {
            $value = $arCurrentValues[$field['FieldName']] ?? '';
            if (!empty($field['Multiple'])) {
                $value = array_values(array_filter(array_map('trim', (array)$value), 'strlen'));
            }
            $properties[$key] = $value;
        }
        $arErrors = static::ValidateProperties($properties, new CBPWorkflowTemplateUser(CBPWorkflowTemplateUser::CurrentUser));
        if (!empty($arErrors)) {
            return false;
        }
        $activity = &CBPWorkflowTemplateLoader::FindActivityByName($arWorkflowTemplate, $activityName);
        $activity['Properties'] = $properties;
        return true;
    }

    public static function ValidateProperties($arTestProperties = [], CBPWorkflowTemplateUser $user = null)
    {
        $errors = [];
        $map = static::getPropertiesMap();
        foreach (['ChannelId', 'Phone'] as $key) {
            if (trim((string)($arTestProperties[$key] ?? '')) === '') {
                $errors[] = [
                    'code' => 'NotExist',
                    'parameter' => $key,
                    'message' => GetMessage('C2D_SEND_REQUIRED', ['#FIELD#' => $map[$key]['Name']]),
                ];
            }
        }
        if (trim((string)($arTestProperties['MessageText'] ?? '')) === '' && empty($arTestProperties['Files'])) {
            $errors[] = [
                'code' => 'NotExist',
                'parameter' => 'MessageText',
                'message' => GetMessage('C2D_SEND_REQUIRED', ['#FIELD#' => $map['MessageText']['Name']]),
            ];
        }
        return array_merge($errors, parent::ValidateProperties($arTestProperties, $user));
    }

    /** The dialog's fields; the channel list comes live from the daemon, a plain field when it is down. */
    private static function getPropertiesMap(): array
    {
        $channels = static::channels();
        $channel = ['Name' => GetMessage('C2D_SEND_CHANNEL'), 'FieldName' => 'channel_id', 'Required' => true];
        $channel += $channels ? ['Type' => 'select', 'Options' => $channels] : ['Type' => 'string'];
        return [
            'ChannelId' => $channel,
            'MessageText' => ['Name' => GetMessage('C2D_SEND_TEXT'), 'FieldName' => 'message_text', 'Type' => 'text', 'Required' => true],
            'Phone' => ['Name' => GetMessage('C2D_SEND_PHONE'), 'FieldName' => 'phone', 'Type' => 'string', 'Required' => true, 'Default' => '{=Document:PHONE}'],
            'Files' => ['Name' => GetMessage('C2D_SEND_FILES'), 'FieldName' => 'files', 'Type' => 'string', 'Multiple' => true],
            'Transport' => [
                'Name' => GetMessage('C2D_SEND_TRANSPORT'),
                'FieldName' => 'transport',
                'Type' => 'select',
                'Options' => [
                    '' => GetMessage('C2D_SEND_TRANSPORT_AUTO'),
                    'whatsapp' => 'WhatsApp',
                    'viber' => 'Viber',
                    'telegram' => 'Telegram',
                    'vkontakte' => 'VK',
                    'sms' => 'SMS',
                ],
            ],
        ];
    }

    /** Channel id => name from the daemon's GET /bizproc/channels; empty when it does not answer. */
    private static function channels(): array
    {
        $settings = static::settings();
        if ($settings === null) {
            return [];
        }
        $http = new \Bitrix\Main\Web\HttpClient(['socketTimeout' => 2, 'streamTimeout' => 5, 'redirect' => false, 'proxyHost' => null]);
        $http->setHeader('Authorization', 'Bearer ' . $settings['secret']);
        $answer = $http->get($settings['url'] . '/bizproc/channels');
        $list = ($answer !== false && (int)$http->getStatus() === 200) ? json_decode($answer, true) : null;
        $options = [];
        foreach ((array)($list['channels'] ?? []) as $channel) {
            if (isset($channel['id'])) {
                $options[(string)$channel['id']] = trim(($channel['name'] ?? '') . ' ' . ($channel['phone'] ?? '')) ?: (string)$channel['id'];
            }
        }
        return $options;
    }

    /** The settings `chat2desk-b24 bizproc install` wrote next to this file: url, secret, timeout. */
    private static function settings(): ?array
    {
        $file = __DIR__ . '/.settings.php';
        $settings = is_readable($file) ? include $file : null;
        return (is_array($settings) && !empty($settings['url']) && !empty($settings['secret'])) ? $settings : null;
    }

    private function fail(string $error)
    {
        $this->Sent = 'N';
        $this->MessageId = '';
        $this->Error = $error;
        $this->WriteToTrackingService($error, 0, CBPTrackingType::Error);
        return CBPActivityExecutionStatus::Closed;
    }
}

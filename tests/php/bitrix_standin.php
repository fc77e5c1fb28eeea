<?php
// STAND-IN, not Bitrix: the few classes and functions of a portal's PHP runtime that the
// chat2desksend activity touches, written for the activity test. The real activity code is
// loaded on top of this; the daemon and the portal's REST side (the simulator) are real
// processes on loopback. What stands in:
//   - CBPActivity and the waiting interfaces, CBPActivityExecutionStatus, CBPTrackingType;
//   - a workflow that keeps event handlers and tracking lines and, when an activity
//     subscribes (the moment a real portal saves the waiting workflow), tells the portal
//     simulator which token now waits (POST /_sim/bizproc/wait);
//   - CBPRestActivity::generateToken (signs "wf|name|eventId" the way
//     \Bitrix\Main\Security\Sign\Signer does: value "." hmac), Random::getString;
//   - \Bitrix\Main\Web\HttpClient on PHP streams (which speak HTTP/1.0, like the 2021
//     client), recording every body it posts into $C2D_CAPTURE_DIR when that is set;
//   - GetMessage over the lang/ru files.
define('B_PROLOG_INCLUDED', true);

$MESS = [];

function GetMessage($id, $replace = null)
{
    global $MESS;
    $text = $MESS[$id] ?? '';
    return is_array($replace) ? strtr($text, $replace) : $text;
}

function htmlspecialcharsbx($text)
{
    return htmlspecialchars((string)$text, ENT_COMPAT, 'UTF-8');
}

/** Loads every lang/ru file of an activity folder, as the runtime does on include. */
function standin_load_lang(string $dir): void
{
    global $MESS;
    foreach (glob($dir . '/lang/ru/{,.}*.php', GLOB_BRACE) as $file) {
        include $file;
    }
}

interface IBPActivityExternalEventListener
{
    public function OnExternalEvent($arEventParameters = []);
}

interface IBPEventActivity
{
    public function Subscribe(IBPActivityExternalEventListener $eventHandler);
    public function Unsubscribe(IBPActivityExternalEventListener $eventHandler);
}

class CBPActivityExecutionStatus
{
    const Initialized = 0;
    const Executing = 1;
    const Canceling = 2;
    const Closed = 3;
    const Faulting = 4;
}

class CBPTrackingType
{
    const Custom = 5;
    const Error = 9;
}

abstract class CBPActivity
{
    public $workflow;
    public $executionStatus = CBPActivityExecutionStatus::Initialized;
    protected $name;
    protected $arProperties = [];
    protected $arPropertiesTypes = [];

    public function __construct($name)
    {
        $this->name = $name;
    }

    public function GetName()
    {
        return $this->name;
    }

    // The real runtime also resolves {=Document:...} expressions here.
    public function __get($property)
    {
        return $this->arProperties[$property] ?? null;
    }

    public function __set($property, $value)
    {
        $this->arProperties[$property] = $value;
    }

    public function SetPropertiesTypes($types = [])
    {
        $this->arPropertiesTypes = $types;
    }

    public function GetWorkflowInstanceId()
    {
        return $this->workflow->GetInstanceId();
    }

    public function GetDocumentId()
    {
        return $this->workflow->documentId;
    }

    public function GetDocumentType()
    {
        return $this->workflow->documentType;
    }

    public function WriteToTrackingService($message = '', $modifiedBy = 0, $trackingType = -1)
    {
        $this->workflow->tracking[] = [$trackingType, $message];
    }

    protected function ReInitialize()
    {
    }

    // The real signature (bizproc/classes/general/activity.php).
    public static function ValidateProperties($arTestProperties = [], CBPWorkflowTemplateUser $user = null)
    {
        return [];
    }
}

class CBPWorkflowTemplateUser
{
    const CurrentUser = 'CurrentUser';

    public function __construct($userId = null)
    {
    }
}

class StandinScheduler
{
    public $subscriptions = [];

    public function SubscribeOnTime($workflowId, $eventName, $expiresAt)
    {
        $id = count($this->subscriptions) + 1;
        $this->subscriptions[$id] = [$workflowId, $eventName, $expiresAt];
        return $id;
    }

    public function UnSubscribeOnTime($id)
    {
        unset($this->subscriptions[$id]);
    }
}

class StandinWorkflow
{
    public $documentId;
    public $documentType;
    public $tracking = [];
    public $handlers = [];
    public $scheduler;
    private $instanceId;
    private $portalUrl;

    public function __construct(array $documentId, string $portalUrl)
    {
        $this->instanceId = uniqid('', true);
        $this->documentId = $documentId;
        $kind = explode('_', $documentId[2])[0];
        $this->documentType = [$documentId[0], $documentId[1], $kind];
        $this->scheduler = new StandinScheduler();
        $this->portalUrl = $portalUrl;
        CBPRestActivity::$portalUrl = $portalUrl;
    }

    public function GetInstanceId()
    {
        return $this->instanceId;
    }

    public function GetService($name)
    {
        return $name === 'SchedulerService' ? $this->scheduler : null;
    }

    public function AddEventHandler($eventName, IBPActivityExternalEventListener $handler)
    {
        $this->handlers[$eventName][] = $handler;
        // The workflow is saved with the activity waiting: the portal now accepts its token.
        $token = CBPRestActivity::$issued[$this->instanceId . '|' . $eventName] ?? '';
        standin_post($this->portalUrl . '/_sim/bizproc/wait', http_build_query([
            'event_token' => $token,
            'workflow_id' => $this->instanceId,
            'document_id' => $this->documentId,
            'saved' => 1,
        ]));
    }

    public function RemoveEventHandler($eventName, IBPActivityExternalEventListener $handler)
    {
        $this->handlers[$eventName] = array_values(array_filter(
            $this->handlers[$eventName] ?? [],
            function ($h) use ($handler) {
                return $h !== $handler;
            }
        ));
    }

    public function CloseActivity(CBPActivity $activity)
    {
        $activity->executionStatus = CBPActivityExecutionStatus::Closed;
    }

    /** What CBPRuntime::SendExternalEvent does with a bizproc.event.send the portal took. */
    public function SendExternalEvent($eventName, array $parameters)
    {
        foreach ($this->handlers[$eventName] ?? [] as $handler) {
            $handler->OnExternalEvent($parameters);
        }
    }
}

class CBPRestActivity
{
    /** Tokens handed out, by "workflow|activity name". */
    public static $issued = [];
    /** The portal simulator, told about every signed token. */
    public static $portalUrl = '';

    public static function generateToken($workflowId, $activityName, $eventId)
    {
        $value = $workflowId . '|' . $activityName . '|' . $eventId;
        $token = $value . '.' . hash_hmac('sha256', $value, 'stand-in signing key');
        self::$issued[$workflowId . '|' . $activityName] = $token;
        // A real portal can check the signature from now on; the workflow is saved later.
        standin_post(self::$portalUrl . '/_sim/bizproc/wait', http_build_query([
            'event_token' => $token,
            'workflow_id' => $workflowId,
            'saved' => 0,
        ]));
        return $token;
    }
}

function standin_post(string $url, string $body): array
{
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/x-www-form-urlencoded\r\n",
        'content' => $body,
        'ignore_errors' => true,
        'timeout' => 10,
    ]]);
    $answer = @file_get_contents($url, false, $context);
    $status = isset($http_response_header[0]) ? (int)explode(' ', $http_response_header[0])[1] : 0;
    return [$status, $answer];
}
